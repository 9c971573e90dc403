import { spawn } from 'node:child_process'
import { access, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { logScratch } from '../../test/support/log-scratch.ts'
import { isSluiceError } from '../errors.ts'
import type { Logger } from '../observability/logger.ts'
import { parseDurability } from './embedded/durability.ts'
import { EmbeddedLog, type EmbeddedLogOptions } from './embedded.ts'

const { newDir, openLog } = logScratch('sluice-durability')

/** Counts the syncs the log makes through its test seam: data (segments) and offsets files. */
function syncCounter() {
  const counts = { data: 0, offsets: 0 }
  return {
    counts,
    beforeSync: (file: string) => {
      if (file.endsWith('.seg')) counts.data++
      else counts.offsets++
    },
  }
}

const record = (text: string) => ({ key: null, value: Buffer.from(text) })

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  )
}

async function waitFor(condition: () => Promise<boolean> | boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await condition()) return
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error('condition not met within 5 s')
}

function capturingLogger(lines: { level: string; msg: string }[]): Logger {
  const logger: Logger = {
    debug: (msg) => lines.push({ level: 'debug', msg }),
    info: (msg) => lines.push({ level: 'info', msg }),
    warn: (msg) => lines.push({ level: 'warn', msg }),
    error: (msg) => lines.push({ level: 'error', msg }),
    child: () => logger,
  }
  return logger
}

describe('durability policy', () => {
  it('parses the flag values and refuses anything else', () => {
    expect(parseDurability('batch')).toBe('batch')
    expect(parseDurability('none')).toBe('none')
    expect(parseDurability('100ms')).toEqual({ intervalMs: 100 })
    expect(parseDurability('2s')).toEqual({ intervalMs: 2000 })
    for (const bad of ['always', '0ms', '100', 'ms', '61s', '-5ms'])
      expect(() => parseDurability(bad), bad).toThrow(/durability/)
  })

  it('refuses an invalid policy and both durability and fsync', async () => {
    const dir = await newDir()
    for (const options of [
      { durability: { intervalMs: 0 } },
      { durability: 'always' },
      { durability: 'batch', fsync: 'never' },
    ] as EmbeddedLogOptions[]) {
      const error = await EmbeddedLog.open(dir, options).catch((e: unknown) => e)
      expect(isSluiceError(error, 'LOG_INVALID_ARGUMENT'), JSON.stringify(options)).toBe(true)
    }
  })

  it("maps the old fsync option: 'always' is batch, 'never' is none", async () => {
    expect((await openLog(await newDir(), { fsync: 'always' })).durability).toBe('batch')
    expect((await openLog(await newDir(), { fsync: 'never' })).durability).toBe('none')
    expect((await openLog(await newDir(), {})).durability).toBe('batch')
  })
})

describe("durability 'batch': group commit", () => {
  it('concurrent appends to a topic share one write and one sync, each told its own offsets', async () => {
    const { counts, beforeSync } = syncCounter()
    const log = await openLog(await newDir(), { durability: 'batch', beforeSync })
    await log.ensureTopic('t')
    const positions = await Promise.all(
      Array.from({ length: 20 }, (_, i) => log.append('t', [record(`a${i}`), record(`b${i}`)])),
    )
    // The first append is written and synced alone; the 19 that queued behind it form one batch.
    expect(counts.data).toBe(2)
    const records = await log.read('t', 0, 0, 100)
    expect(records).toHaveLength(40)
    positions.forEach((pair, i) => {
      expect(pair.map((p) => records[p.offset]!.value.toString())).toEqual([`a${i}`, `b${i}`])
    })
  })

  it('appends to several topics and a commit in flight together share sync rounds', async () => {
    const { counts, beforeSync } = syncCounter()
    const log = await openLog(await newDir(), { durability: 'batch', beforeSync })
    const topics = ['t0', 't1', 't2', 't3']
    for (const t of topics) await log.ensureTopic(t)
    await Promise.all([
      ...topics.flatMap((t) => Array.from({ length: 5 }, (_, i) => log.append(t, [record(`${t}-${i}`)]))),
      log.commitOffset('g', 't0', 0, 0),
    ])
    // 20 appends and a commit, one at a time, would be 20 data syncs and one offsets sync; in
    // rounds, each topic's queued appends are one batch and rounds overlap across topics.
    expect(counts.data).toBeLessThanOrEqual(8)
    expect(counts.offsets).toBe(1)
    for (const t of topics) expect(await log.endOffsets(t)).toEqual([5])
  })

  it("an append's sync does not wait behind an offsets write in flight", async () => {
    let releaseOffsets = () => {}
    const offsetsHeld = new Promise<void>((resolve) => {
      releaseOffsets = resolve
    })
    let reachedOffsets = () => {}
    const offsetsReached = new Promise<void>((resolve) => {
      reachedOffsets = resolve
    })
    const log = await openLog(await newDir(), {
      durability: 'batch',
      beforeSync: (file) => {
        if (!file.endsWith('.json')) return
        reachedOffsets()
        return offsetsHeld
      },
    })
    await log.ensureTopic('t')
    await log.append('t', [record('first')])
    let committed = false
    const commit = log.commitOffset('g', 't', 0, 1).then(() => {
      committed = true
    })
    // The commit's offsets file is being written (held); the next batch's append goes ahead.
    await offsetsReached
    const appended = log.append('t', [record('second')])
    let timer: ReturnType<typeof setTimeout> | undefined
    const guard = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('the append waited for the offsets write')), 5000)
    })
    const [position] = await Promise.race([appended, guard]).finally(() => clearTimeout(timer))
    expect(position!.offset).toBe(1)
    expect(committed).toBe(false)
    releaseOffsets()
    await commit
    expect(await log.committedOffsets('g', 't')).toEqual([1])
  })

  it('an append whose sync fails is rolled back, fails, and the partition refuses more', async () => {
    const dir = await newDir()
    let failSync = false
    const log = await openLog(dir, {
      durability: 'batch',
      beforeSync: (file) => {
        if (failSync && file.endsWith('.seg'))
          throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO', syscall: 'fdatasync' })
      },
    })
    await log.ensureTopic('t')
    await log.append('t', [record('kept')])
    failSync = true
    const error = await log.append('t', [record('lost')]).catch((e: unknown) => e)
    expect(isSluiceError(error, 'LOG_IO')).toBe(true)
    expect((error as { appended?: number }).appended).toBe(0)
    expect((await log.read('t', 0, 0, 10)).map((r) => r.value.toString())).toEqual(['kept'])
    failSync = false
    const refused = await log.append('t', [record('after')]).catch((e: unknown) => e)
    expect(isSluiceError(refused, 'LOG_CLOSED')).toBe(true)
    await log.close()
    const reopened = await openLog(dir, { durability: 'batch' })
    expect((await reopened.read('t', 0, 0, 10)).map((r) => r.value.toString())).toEqual(['kept'])
  })
})

describe('durability every N ms', () => {
  it('acknowledges appends and commits without syncing; one round (data, then offsets) makes them durable', async () => {
    const dir = await newDir()
    const { counts, beforeSync } = syncCounter()
    // An interval no test outlives: only close() runs the round here.
    const log = await openLog(dir, { durability: { intervalMs: 60_000 }, beforeSync })
    await log.ensureTopic('t')
    for (let i = 0; i < 20; i++) {
      const [position] = await log.append('t', [record(`r${i}`)])
      await log.commitOffset('g', 't', 0, position!.offset + 1)
    }
    expect(counts).toEqual({ data: 0, offsets: 0 })
    // Visible and committed in this process, the offsets file not yet written.
    expect(await log.read('t', 0, 19, 1)).toHaveLength(1)
    expect(await log.committedOffsets('g', 't')).toEqual([20])
    expect(await exists(path.join(dir, 'groups', 'g.json'))).toBe(false)
    await log.close()
    expect(counts).toEqual({ data: 1, offsets: 1 })
    const reopened = await openLog(dir, { durability: 'batch' })
    expect(await reopened.endOffsets('t')).toEqual([20])
    expect(await reopened.committedOffsets('g', 't')).toEqual([20])
  })

  it('syncs on its timer: the offsets file follows within the interval', async () => {
    const dir = await newDir()
    const { counts, beforeSync } = syncCounter()
    const log = await openLog(dir, { durability: { intervalMs: 20 }, beforeSync })
    await log.ensureTopic('t')
    await log.append('t', [record('x')])
    await log.commitOffset('g', 't', 0, 1)
    const file = path.join(dir, 'groups', 'g.json')
    await waitFor(() => exists(file))
    expect(JSON.parse(await readFile(file, 'utf8')).topics.t).toEqual([1])
    expect(counts.data).toBe(1)
  })

  it('a failed background sync is logged, keeps the offsets back, and the partition refuses appends', async () => {
    const dir = await newDir()
    const lines: { level: string; msg: string }[] = []
    let failSync = true
    const log = await openLog(dir, {
      durability: { intervalMs: 10 },
      logger: capturingLogger(lines),
      beforeSync: (file) => {
        if (failSync && file.endsWith('.seg'))
          throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })
      },
    })
    await log.ensureTopic('t')
    await log.append('t', [record('x')])
    await log.commitOffset('g', 't', 0, 1)
    await waitFor(() => lines.some((l) => l.level === 'error' && /syncing a partition failed/.test(l.msg)))
    // The offsets must not be durable ahead of data whose sync failed.
    expect(await exists(path.join(dir, 'groups', 'g.json'))).toBe(false)
    failSync = false
    const refused = await log.append('t', [record('y')]).catch((e: unknown) => e)
    expect(isSluiceError(refused, 'LOG_CLOSED')).toBe(true)
  })
})

describe('whenDurable', () => {
  it('interval: resolves with the next round of the timer, at once when nothing waits for one', async () => {
    const { counts, beforeSync } = syncCounter()
    // The first tick comes a second after open: long after the appends below, whatever the load.
    const log = await openLog(await newDir(), { durability: { intervalMs: 1000 }, beforeSync })
    await log.ensureTopic('t')
    await log.whenDurable()
    expect(counts.data).toBe(0)
    await log.append('t', [record('x')])
    await log.commitOffset('g', 't', 0, 1)
    const durable = log.whenDurable()
    expect(counts).toEqual({ data: 0, offsets: 0 })
    await durable
    expect(counts).toEqual({ data: 1, offsets: 1 })
  })

  it("'none': syncs the data written so far; 'batch': nothing left to wait for", async () => {
    const none = syncCounter()
    const log = await openLog(await newDir(), { durability: 'none', beforeSync: none.beforeSync })
    await log.ensureTopic('t')
    await log.append('t', [record('x')])
    expect(none.counts.data).toBe(0)
    await log.whenDurable()
    expect(none.counts.data).toBe(1)

    const batch = syncCounter()
    const strict = await openLog(await newDir(), { durability: 'batch', beforeSync: batch.beforeSync })
    await strict.ensureTopic('t')
    await strict.append('t', [record('x')])
    await strict.whenDurable()
    expect(batch.counts.data).toBe(1)
  })
})

/**
 * A child process appends (and commits) in a loop, printing each acknowledged position, and is
 * SIGKILLed mid-stream; reopening must find every acknowledged record. For a process kill the page
 * cache survives, so this holds for the interval policy as much as for 'batch'.
 */
describe('a process killed mid-appends loses nothing acknowledged', () => {
  const embedded = path.join(import.meta.dirname, 'embedded.ts')

  async function killMidAppends(
    durability: string,
  ): Promise<{ dir: string; acked: number; committed: number }> {
    const dir = await newDir()
    const script = path.join(dir, 'child.mts')
    await writeFile(
      script,
      `import { EmbeddedLog } from ${JSON.stringify(embedded)}
import { parseDurability } from ${JSON.stringify(path.join(import.meta.dirname, 'embedded', 'durability.ts'))}
const log = await EmbeddedLog.open(process.argv[2], { durability: parseDurability(process.argv[3]), segmentBytes: 64 * 1024 })
await log.ensureTopic('t')
for (let i = 0; ; i++) {
  const positions = await log.append('t', Array.from({ length: 10 }, (_, j) => ({ key: null, value: Buffer.from('v' + (i * 10 + j)) })))
  await log.commitOffset('g', 't', 0, positions.at(-1).offset + 1)
  process.stdout.write('acked ' + (positions.at(-1).offset + 1) + '\\n')
}
`,
    )
    const child = spawn(process.execPath, ['--import', 'tsx', script, path.join(dir, 'data'), durability], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let acked = 0
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
    await new Promise<void>((resolve, reject) => {
      let buffered = ''
      child.stdout.on('data', (d: Buffer) => {
        buffered += d.toString()
        const lines = buffered.split('\n')
        buffered = lines.pop()!
        for (const line of lines) acked = Number(line.slice('acked '.length))
        // Well into the run (several segments rolled), then kill without warning.
        if (acked >= 5000 && child.exitCode === null) {
          child.kill('SIGKILL')
          resolve()
        }
      })
      child.on('exit', (code, signal) => {
        if (signal !== 'SIGKILL') reject(new Error(`child exited (${code}): ${stderr}`))
      })
    })
    await exited
    return { dir: path.join(dir, 'data'), acked, committed: acked }
  }

  for (const durability of ['batch', '50ms']) {
    it(`durability ${durability}`, { timeout: 60_000 }, async () => {
      const { dir, acked } = await killMidAppends(durability)
      const log = await openLog(dir, { durability: 'batch' })
      const [end] = await log.endOffsets('t')
      expect(end).toBeGreaterThanOrEqual(acked)
      const records = []
      for (let from = 0; from < acked; from += 1000) records.push(...(await log.read('t', 0, from, 1000)))
      expect(records.slice(0, acked).map((r) => r.value.toString())).toEqual(
        Array.from({ length: acked }, (_, i) => `v${i}`),
      )
      // Committed offsets: 'batch' keeps every acknowledged commit; the interval policy keeps
      // commits up to the last round, and never one past the durable data.
      const [committed] = await log.committedOffsets('g', 't')
      if (durability === 'batch') expect(committed).toBeGreaterThanOrEqual(acked)
      expect(committed).toBeLessThanOrEqual(end!)
    })
  }
})
