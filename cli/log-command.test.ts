import { cp, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { checkFrame } from '../runtime/log/embedded/frame.ts'
import { EmbeddedLog } from '../runtime/log/embedded.ts'
import type { SubscribeOptions } from '../runtime/log/index.ts'
import { runCli } from '../test/support/capture-io.ts'

// `sluice log verify|repair` and `sluice consume` on data directories damaged by the test.

const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

async function newDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-log-cli-'))
  dirs.push(dir)
  return dir
}

/** Topic t (10 records, several segments, consumed by group g) and topic other (2 records). */
async function dataDir(): Promise<string> {
  const dir = await newDir()
  const log = await EmbeddedLog.open(dir, { segmentBytes: 200 })
  await log.ensureTopic('t')
  await log.ensureTopic('other')
  for (let i = 0; i < 10; i++) await log.append('t', [{ key: null, value: Buffer.from(`record-${i}`) }])
  await log.append(
    'other',
    [0, 1].map((i) => ({ key: null, value: Buffer.from(`o${i}`) })),
  )
  const seen: string[] = []
  const sub = await log.subscribe({ group: 'g', topics: ['t'], maxBatchRecords: 3 }, async (b) => {
    seen.push(...b.records.map((r) => r.value.toString()))
  })
  while (seen.length < 10) await new Promise((r) => setTimeout(r, 5))
  await sub.stop()
  await log.close()
  return dir
}

/** An exactly-once subscription of group g to topic in, whose checkpoints need no state. */
const EXACTLY_ONCE: SubscribeOptions = {
  group: 'g',
  topics: ['in'],
  delivery: 'exactly-once',
  checkpoint: {
    transactionalId: 'tx',
    assigned: async () => {},
    prepare: async () => 'epoch',
    committed: async () => {},
    revoked: () => {},
  },
}

/** The segment of t holding `offset`, and the byte position of that record in it. */
async function locate(dir: string, offset: number): Promise<{ file: string; position: number }> {
  const partitionDir = path.join(dir, 'log', 't', '0')
  const files = (await readdir(partitionDir)).filter((n) => n.endsWith('.seg')).sort()
  for (const name of files) {
    const buf = await readFile(path.join(partitionDir, name))
    for (let pos = 0; pos < buf.length; ) {
      const check = checkFrame(buf, pos, buf.length)
      if (check.status !== 'ok') throw new Error(`bad frame at ${pos} of ${name}`)
      if (check.offset === offset) return { file: path.join(partitionDir, name), position: pos }
      pos += check.size
    }
  }
  throw new Error(`offset ${offset} not found`)
}

async function damage(file: string, position: number): Promise<void> {
  const fh = await open(file, 'r+')
  await fh.write(Buffer.from([0xee]), 0, 1, position)
  await fh.close()
}

/** Every file under dir with its content, to prove nothing changed. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const file = path.join(entry.parentPath, entry.name)
      out[path.relative(dir, file)] = (await readFile(file)).toString('base64')
    }
  }
  return out
}

describe('sluice log verify and repair', () => {
  it('finds damage in a sealed segment, repairs it with the lock, never reuses offsets', async () => {
    const dir = await dataDir()
    // A record in the middle of the log, in a sealed segment, with valid records after it.
    const { file, position } = await locate(dir, 4)
    await damage(file, position + 20)

    const verified = await runCli('log', 'verify', '--data-dir', dir)
    expect(verified.code).toBe(1)
    expect(verified.stdout).toContain('topic t: 1 partition(s)')
    expect(verified.stdout).toMatch(/partition 0: DAMAGED/)
    expect(verified.stdout).toContain(`DAMAGED ${path.basename(file)}`)
    expect(verified.stdout).toMatch(
      new RegExp(`bytes ${position}\\.\\.\\d+ \\(offsets 4\\.\\.4 unreadable\\): CRC mismatch`),
    )
    expect(verified.stdout).toMatch(/topic other: 1 partition\(s\)\n {2}partition 0: ok/)
    expect(verified.stdout).toMatch(/ok {6}g \(/)

    const before = await snapshot(dir)
    const dry = await runCli('log', 'repair', '--data-dir', dir, '--dry-run')
    expect(dry.code).toBe(0)
    expect(dry.stdout).toMatch(/repair --dry-run \(nothing changed\): 1 action\(s\) it would do/)
    expect(await snapshot(dir)).toEqual(before)

    // Not while another process (here: this one, through an open log) owns the directory.
    const owner = await EmbeddedLog.open(dir)
    const locked = await runCli('log', 'repair', '--data-dir', dir)
    expect(locked.code).toBe(1)
    expect(locked.stderr).toMatch(/error\[LOG_LOCKED\]/)
    await owner.close()
    expect(await snapshot(dir)).toEqual(before)

    const repaired = await runCli('log', 'repair', '--data-dir', dir)
    expect(repaired.code).toBe(0)
    expect(repaired.stdout).toContain(`moved `)
    expect(repaired.stdout).toContain(`${file}.quarantine-at-${position}`)
    expect(repaired.stdout).toMatch(/offsets 4\.\.4 retired as a recorded gap/)
    const quarantined = await readFile(`${file}.quarantine-at-${position}`)
    expect(quarantined.length).toBeGreaterThan(0)

    const clean = await runCli('log', 'verify', '--data-dir', dir)
    expect(clean.stdout).toContain('no damage found')
    expect(clean.code).toBe(0)
    expect(clean.stdout).toContain('retired offsets 4..4')

    const log = await EmbeddedLog.open(dir)
    try {
      const records = await log.read('t', 0, 0, 100)
      expect(records.map((r) => r.offset)).toEqual([0, 1, 2, 3, 5, 6, 7, 8, 9])
      const [position10] = await log.append('t', [{ key: null, value: Buffer.from('next') }])
      expect(position10!.offset).toBe(10)
    } finally {
      await log.close()
    }
    expect((await runCli('log', 'repair', '--data-dir', dir)).stdout).toBe('nothing to repair\n')
  })

  it('restores a damaged consumer-group offsets file from its backup generation', async () => {
    const dir = await dataDir()
    const groupFile = path.join(dir, 'groups', 'g.json')
    await writeFile(groupFile, '{"version":1,"topi')
    const verified = await runCli('log', 'verify', '--data-dir', dir)
    expect(verified.code).toBe(1)
    expect(verified.stdout).toMatch(/DAMAGED g \(.*g\.json\): damaged \(not valid JSON/)
    const repaired = await runCli('log', 'repair', '--data-dir', dir)
    expect(repaired.code).toBe(0)
    expect(repaired.stdout).toMatch(/restored the backup generation/)
    expect(JSON.parse(await readFile(groupFile, 'utf8')).topics.t).toHaveLength(1)
    expect((await readdir(path.join(dir, 'groups'))).some((n) => n.startsWith('g.json.damaged-'))).toBe(true)
    expect((await runCli('log', 'verify', '--data-dir', dir)).code).toBe(0)
  })

  it('lists exactly-once transactions and the offsets of aborted ones', async () => {
    const dir = await newDir()
    const log = await EmbeddedLog.open(dir)
    await log.ensureTopic('in')
    await log.ensureTopic('out')
    await log.append('in', [{ key: null, value: Buffer.from('x') }])
    const subscription = await log.subscribe(EXACTLY_ONCE, async (batch) => {
      await batch.transaction!.append('out', [{ key: null, value: Buffer.from('never visible') }])
      throw new Error('the handler fails: its transaction is aborted')
    })
    await subscription.done.catch(() => {})
    await log.close()
    const { code, stdout } = await runCli('log', 'verify', '--data-dir', dir)
    expect(code).toBe(0)
    expect(stdout).toMatch(
      /topic out: 1 partition\(s\)\n {2}partition 0: ok, .*aborted \(exactly-once, never delivered\) 0\.\.0/,
    )
    expect(stdout).toMatch(
      /exactly-once transactions:\n {2}ok +tx%2Ein%2E0\.json: transaction tx\.in\.0: aborted/,
    )
  })

  it('lists the offsets of a transaction still open when the node stopped, which the next open aborts', async () => {
    const dir = await newDir()
    const log = await EmbeddedLog.open(dir, { durability: 'batch' })
    await log.ensureTopic('in')
    await log.ensureTopic('out')
    await log.append('in', [{ key: null, value: Buffer.from('x') }])
    let appended!: () => void
    const inside = new Promise<void>((resolve) => {
      appended = resolve
    })
    let release!: () => void
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    const subscription = await log.subscribe(EXACTLY_ONCE, async (batch) => {
      await batch.transaction!.append('out', [{ key: null, value: Buffer.from('not yet') }])
      appended()
      await held
    })
    await inside
    // The directory as a crash would leave it: the transaction's records on disk, no commit.
    const crashed = await newDir()
    await cp(dir, crashed, { recursive: true })
    release()
    await subscription.stop()
    await log.close()
    const { code, stdout } = await runCli('log', 'verify', '--data-dir', crashed)
    expect(code).toBe(0)
    expect(stdout).toMatch(
      /topic out: .*\n {2}partition 0: ok, .*unfinished transactions \(the next open aborts them\) 0\.\.0/,
    )
  })

  it('explains usage and a missing directory', async () => {
    expect((await runCli('log')).code).toBe(2)
    expect((await runCli('log', 'fix')).stderr).toMatch(/unknown subcommand "fix"/)
    const help = await runCli('log', '--help')
    expect(help.stdout).toMatch(/^Usage: sluice log verify/)
    const missing = await runCli('log', 'verify', '--data-dir', path.join(tmpdir(), 'no-such-sluice-dir'))
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/no data directory/)
  })
})

describe('sluice consume on a damaged log', () => {
  it('fails naming file, byte and offset after printing what comes before, or skips with a warning', async () => {
    const dir = await dataDir()
    const { file, position } = await locate(dir, 9) // in the last segment, read by the read-only scan
    await damage(file, position + 20)
    const failed = await runCli('consume', 't', '--data-dir', dir, '--log-format', 'text')
    expect(failed.code).toBe(1)
    expect(failed.stdout.trim().split('\n')).toHaveLength(9)
    expect(failed.stderr).toContain('LOG_CORRUPT_SEGMENT')
    expect(failed.stderr).toContain(`corrupt segment ${file} at byte ${position}`)
    expect(failed.stderr).toMatch(/record offset 9/)
    expect(failed.stderr).toContain('--skip-corrupt')

    const skipped = await runCli('consume', 't', '--data-dir', dir, '--skip-corrupt', '--log-format', 'text')
    expect(skipped.code).toBe(0)
    expect(skipped.stdout.trim().split('\n')).toHaveLength(9)
    expect(skipped.stderr).toMatch(/skipped damaged bytes/)
  })
})

describe('sluice run on a damaged log', () => {
  it('shows what recovery did as JSON warning lines on stderr, and runs', async () => {
    const dir = await newDir()
    const artifact = path.join(dir, 'artifact')
    const data = path.join(dir, 'data')
    const root = path.join(import.meta.dirname, '..')
    expect(
      (await runCli('compile', path.join(root, 'examples/payments/payments.pipe'), '-o', artifact)).code,
    ).toBe(0)
    const events = path.join(dir, 'events.jsonl')
    // Two produce calls, so that the last record is a batch frame of its own (one append is one
    // batch, and damage takes its whole batch).
    await writeFile(events, 'not json 1\nnot json 2\n')
    expect((await runCli('produce', 'payments', '--file', events, '--data-dir', data)).code).toBe(0)
    await writeFile(events, 'not json 3\n')
    expect((await runCli('produce', 'payments', '--file', events, '--data-dir', data)).code).toBe(0)
    const segment = path.join(data, 'log', 'payments', '0', '00000000000000000000.seg')
    const buf = await readFile(segment)
    let last = 0
    for (let pos = 0; pos < buf.length; ) {
      last = pos
      const check = checkFrame(buf, pos, buf.length)
      if (check.status !== 'ok') throw new Error('bad frame')
      pos += check.size
    }
    await damage(segment, last + 20)

    const ran = await runCli('run', artifact, '--data-dir', data, '--until-caught-up', '--log-format', 'json')
    expect(ran.code, ran.stderr).toBe(0)
    const lines = ran.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    const warning = lines.find((l) => l.kind === 'corrupt-tail-quarantined')
    expect(warning).toMatchObject({
      level: 'warn',
      topic: 'payments',
      partition: 0,
      file: segment,
      position: last,
    })
    expect(String(warning!.msg)).toMatch(/CRC mismatch/)
    expect(lines.some((l) => l.kind === 'offsets-skipped')).toBe(true)
    expect(ran.stderr).toMatch(/processed 2 events/)
  })
})
