import { spawn } from 'node:child_process'
import { cpSync } from 'node:fs'
import { mkdir, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { expectCode, logScratch } from '../../test/support/log-scratch.ts'
import { isSluiceError } from '../errors.ts'
import { repairDataDir } from './embedded/repair.ts'
import { hasDamage, verifyDataDir } from './embedded/verify.ts'
import { EmbeddedLog, type EmbeddedLogOptions } from './embedded.ts'
import type { CheckpointOptions, Log, LogRecord, RecordBatch } from './index.ts'

/**
 * Exactly-once on the embedded log beyond the shared suite (checkpoint-conformance.ts): crashes
 * at each step of a transaction (a process killed mid-stream, a copy of the directory taken
 * between the intent and the records, between the commit marker and the offsets file), readers
 * of a read-only open, verify and repair, and a zombie fenced while idle.
 */
const { newDir, openLog, track } = logScratch('sluice-txn')

const hooks = (transactionalId: string, extra: Partial<CheckpointOptions> = {}): CheckpointOptions => ({
  intervalMs: 60_000,
  transactionalId,
  assigned: async () => {},
  prepare: async () => 'meta',
  committed: async () => {},
  revoked: () => {},
  ...extra,
})

async function readAll(log: Log, topic: string, partition = 0): Promise<LogRecord[]> {
  const out: LogRecord[] = []
  for (let from = 0; ; ) {
    const records = await log.read(topic, partition, from, 500)
    if (records.length === 0) return out
    out.push(...records)
    from = records.at(-1)!.offset + 1
  }
}

async function waitFor(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 1500; i++) {
    if (await condition()) return
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** A handler writing `out:<value>` per record into `out` through the batch's transaction. */
function mirrorTo(out: string, after?: (batch: RecordBatch) => Promise<void>) {
  return async (batch: RecordBatch) => {
    await batch.transaction!.append(
      out,
      batch.records.map((r) => ({ key: null, value: Buffer.from(`out:${r.value.toString()}`) })),
    )
    await after?.(batch)
  }
}

async function setUp(options: EmbeddedLogOptions = {}, inputs = 3) {
  const dir = await newDir()
  const log = await openLog(dir, options)
  await log.ensureTopic('in')
  await log.ensureTopic('out')
  await log.append(
    'in',
    Array.from({ length: inputs }, (_, i) => ({ key: null, value: Buffer.from(`v${i}`) })),
  )
  return { dir, log }
}

/** Copies a live data directory as a crash would leave it (without the LOCK of this process). */
function crashCopy(dir: string, copy: string): void {
  cpSync(dir, copy, { recursive: true })
}

async function openCopy(copy: string, options: EmbeddedLogOptions = {}): Promise<EmbeddedLog> {
  await unlink(path.join(copy, 'LOCK')).catch(() => {})
  return openLog(copy, options)
}

describe('a process killed mid-stream', () => {
  const embedded = path.join(import.meta.dirname, 'embedded.ts')

  /**
   * A child runs an exactly-once pipeline (in → out, one output per input, short checkpoints) and
   * is SIGKILLed after some epochs committed, almost surely with one open. What is visible after
   * reopening must be exactly the outputs of the committed inputs; finishing the job must then
   * give each output exactly once.
   */
  for (const durability of ['batch', '20ms']) {
    it(`durability ${durability}: committed outputs only, then exactly once`, {
      timeout: 60_000,
    }, async () => {
      const dir = await newDir()
      const data = path.join(dir, 'data')
      const setup = track(await EmbeddedLog.open(data))
      await setup.ensureTopic('in')
      await setup.ensureTopic('out')
      const total = 3000
      await setup.append(
        'in',
        Array.from({ length: total }, (_, i) => ({ key: null, value: Buffer.from(`v${i}`) })),
      )
      await setup.close()
      const script = path.join(dir, 'child.mts')
      await writeFile(
        script,
        `import { EmbeddedLog } from ${JSON.stringify(embedded)}
import { parseDurability } from ${JSON.stringify(path.join(import.meta.dirname, 'embedded', 'durability.ts'))}
const log = await EmbeddedLog.open(process.argv[2], { durability: parseDurability(process.argv[3]) })
await log.subscribe({
  group: 'g', topics: ['in'], maxBatchRecords: 7, delivery: 'exactly-once',
  checkpoint: {
    intervalMs: 5, transactionalId: 'job',
    assigned: async () => {}, prepare: async () => 'm', revoked: () => {},
    committed: async () => { process.stdout.write('committed\\n') },
  },
}, async (batch) => {
  await batch.transaction.append('out', batch.records.map((r) => ({ key: null, value: Buffer.from('out:' + r.value.toString()) })))
  process.stdout.write('appended\\n')
  await new Promise((r) => setTimeout(r, 2))
})
`,
      )
      const child = spawn(process.execPath, ['--import', 'tsx', script, data, durability], {
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString()
      })
      let commits = 0
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          const lines = d.toString().split('\n')
          commits += lines.filter((l) => l === 'committed').length
          // Right after an append of the open epoch: the kill lands mid-transaction.
          if (commits >= 20 && lines.at(-2) === 'appended' && child.exitCode === null) {
            child.kill('SIGKILL')
            resolve()
          }
        })
        child.on('exit', (code, signal) => {
          if (signal !== 'SIGKILL') reject(new Error(`child exited (${code}): ${stderr}`))
        })
      })
      await exited

      const log = await openLog(data)
      expect(log.recoveryReport.map((e) => e.kind)).toContain('transaction-aborted')
      const [committed] = await log.committedOffsets('g', 'in')
      expect(committed).toBeGreaterThan(0)
      expect(committed).toBeLessThan(total)
      const visible = await readAll(log, 'out')
      // Outputs and the offset became visible together: exactly the committed inputs' outputs.
      expect(visible.map((r) => r.value.toString())).toEqual(
        Array.from({ length: committed! }, (_, i) => `out:v${i}`),
      )
      const [outEnd] = await log.endOffsets('out')

      const sub = await log.subscribe(
        {
          group: 'g',
          topics: ['in'],
          delivery: 'exactly-once',
          checkpoint: hooks('job', { intervalMs: 50 }),
        },
        mirrorTo('out'),
      )
      await waitFor(async () => (await log.committedOffsets('g', 'in'))[0] === total, 'the job to finish')
      await sub.stop()
      const all = await readAll(log, 'out')
      expect(all.map((r) => r.value.toString())).toEqual(Array.from({ length: total }, (_, i) => `out:v${i}`))
      // Offsets the killed process took (committed or not) are never handed out again.
      for (const r of all.slice(committed)) expect(r.offset).toBeGreaterThanOrEqual(outEnd!)
      expect(hasDamage(await verifyDataDir(data))).toBe(false)
    })
  }
})

describe('transactional batches on disk, no intent', () => {
  const embedded = path.join(import.meta.dirname, 'embedded.ts')

  /**
   * A child claims a transactional id and appends, durably ('batch'), the outputs of three inputs
   * in three appends without committing, then waits. Nothing but the claim writes the transaction
   * file; the records name their transaction in their batches. While it runs, a read-only reader
   * in this process must not see them; after a SIGKILL the next open must abort them.
   */
  it('records of a transaction killed before its commit are aborted at open; a read-only reader never sees them', {
    timeout: 60_000,
  }, async () => {
    const dir = await newDir()
    const data = path.join(dir, 'data')
    const setup = track(await EmbeddedLog.open(data))
    await setup.ensureTopic('in')
    await setup.ensureTopic('out')
    await setup.append(
      'in',
      [0, 1, 2].map((i) => ({ key: null, value: Buffer.from(`v${i}`) })),
    )
    await setup.append('out', [{ key: null, value: Buffer.from('before') }])
    await setup.close()
    const script = path.join(dir, 'child.mts')
    await writeFile(
      script,
      `import { EmbeddedLog } from ${JSON.stringify(embedded)}
const log = await EmbeddedLog.open(process.argv[2], { durability: 'batch' })
await log.subscribe({
  group: 'g', topics: ['in'], maxBatchRecords: 1, delivery: 'exactly-once',
  checkpoint: {
    intervalMs: 600000, transactionalId: 'job',
    assigned: async () => {}, prepare: async () => 'm', revoked: () => {}, committed: async () => {},
  },
}, async (batch) => {
  await batch.transaction.append('out', batch.records.map((r) => ({ key: null, value: Buffer.from('out:' + r.value.toString()) })))
  process.stdout.write('appended\\n')
})
`,
    )
    const child = spawn(process.execPath, ['--import', 'tsx', script, data], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    let txnFile = ''
    let claimed = ''
    try {
      let appended = 0
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          appended += d
            .toString()
            .split('\n')
            .filter((l) => l === 'appended').length
          if (appended >= 3) resolve()
        })
        child.on('exit', (code) => reject(new Error(`child exited (${code}): ${stderr}`)))
      })
      const [name, ...others] = await readdir(path.join(data, 'transactions'))
      expect(others).toEqual([])
      txnFile = path.join(data, 'transactions', name!)
      claimed = await readFile(txnFile, 'utf8')
      // The file the claim wrote: no ranges, nothing per append.
      expect(JSON.parse(claimed)).toMatchObject({ state: 'open', ranges: [], producerId: 0, epoch: 0 })

      const reader = track(await EmbeddedLog.openReadOnly(data))
      expect(await reader.endOffsets('out')).toEqual([4])
      expect((await readAll(reader, 'out')).map((r) => r.value.toString())).toEqual(['before'])
    } finally {
      child.kill('SIGKILL')
      await exited
    }
    expect(await readFile(txnFile, 'utf8')).toBe(claimed)
    const killed = await verifyDataDir(data)
    expect(killed.topics.find((t) => t.topic === 'out')!.partitions[0]!.unfinished).toEqual([
      { from: 1, to: 4 },
    ])
    expect(hasDamage(killed)).toBe(false)

    const restarted = track(await EmbeddedLog.open(data))
    expect(restarted.recoveryReport).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'transaction-aborted', topic: 'out', offsets: { from: 1, to: 4 } }),
      ]),
    )
    expect((await readAll(restarted, 'out')).map((r) => r.value.toString())).toEqual(['before'])
    expect(await restarted.committedOffsets('g', 'in')).toEqual([-1])
    const [position] = await restarted.append('out', [{ key: null, value: Buffer.from('after') }])
    expect(position!.offset).toBe(4)
    const report = await verifyDataDir(data)
    expect(report.topics.find((t) => t.topic === 'out')!.partitions[0]!.aborted).toEqual([{ from: 1, to: 4 }])
    expect(report.topics.find((t) => t.topic === 'out')!.partitions[0]!.unfinished).toEqual([])
    expect(hasDamage(report)).toBe(false)
    await restarted.close()

    // Decided once: the next open finds nothing more to abort (the tail mark moved past it).
    const again = track(await EmbeddedLog.open(data))
    expect(again.recoveryReport.map((e) => e.kind)).not.toContain('transaction-aborted')
    expect((await readAll(again, 'out')).map((r) => r.value.toString())).toEqual(['before', 'after'])
  })
})

describe('crash points of a transaction', () => {
  it('between the claim and the records: nothing of the transaction is on disk, its offsets go to the next append', async () => {
    const copy = `${await newDir()}-copy`
    let copied = false
    const { dir, log } = await setUp({
      beforeWrite: (file) => {
        if (!copied && file.includes(`${path.sep}out${path.sep}`)) {
          crashCopy(dir, copy)
          copied = true
        }
      },
    })
    const sub = await log.subscribe(
      { group: 'g', topics: ['in'], delivery: 'exactly-once', checkpoint: hooks('job') },
      mirrorTo('out'),
    )
    await waitFor(() => copied, 'the output write')
    await sub.stop()
    try {
      // The claim wrote the file (producer id, epoch); no append writes it again.
      const before = await verifyDataDir(copy)
      expect(before.transactions.map((t) => t.transaction)).toEqual([
        expect.objectContaining({ state: 'open', ranges: [], producerId: 0, epoch: 0 }),
      ])

      const restarted = await openCopy(copy)
      expect(await readAll(restarted, 'out')).toEqual([])
      expect(restarted.recoveryReport.map((e) => e.kind)).not.toContain('offsets-skipped')
      expect(await restarted.committedOffsets('g', 'in')).toEqual([-1])
      // No record of the transaction reached the disk, so nobody can have seen its offsets.
      const [position] = await restarted.append('out', [{ key: null, value: Buffer.from('plain') }])
      expect(position!.offset).toBe(0)
      expect((await readAll(restarted, 'out')).map((r) => r.value.toString())).toEqual(['plain'])
      expect(hasDamage(await verifyDataDir(copy))).toBe(false)
    } finally {
      await rm(copy, { recursive: true, force: true })
    }
  })

  it('a transactional append that failed gives its offsets back, and a crash hides nothing that took them', async () => {
    const copy = `${await newDir()}-copy`
    let failNext = true
    const { dir, log } = await setUp({
      beforeWrite: (file) => {
        if (failNext && file.includes(`${path.sep}out${path.sep}`)) {
          failNext = false
          throw new Error('simulated write failure')
        }
      },
    })
    const sub = await log.subscribe(
      { group: 'g', topics: ['in'], delivery: 'exactly-once', checkpoint: hooks('job') },
      mirrorTo('out'),
    )
    await expect(sub.done).rejects.toThrow('simulated write failure')
    const [position] = await log.append('out', [{ key: null, value: Buffer.from('plain') }])
    expect(position!.offset).toBe(0)
    crashCopy(dir, copy)
    try {
      const restarted = await openCopy(copy)
      expect((await readAll(restarted, 'out')).map((r) => r.value.toString())).toEqual(['plain'])
    } finally {
      await rm(copy, { recursive: true, force: true })
    }
  })

  it('between the commit marker and the offsets file: the group is rolled forward to the marker', async () => {
    const copy = `${await newDir()}-copy`
    let copied = false
    const { dir, log } = await setUp({
      beforeSync: (file) => {
        if (!copied && file.includes(`${path.sep}groups${path.sep}`)) {
          crashCopy(dir, copy)
          copied = true
        }
      },
    })
    const sub = await log.subscribe(
      { group: 'g', topics: ['in'], delivery: 'exactly-once', checkpoint: hooks('job') },
      mirrorTo('out'),
    )
    await waitFor(async () => (await log.read('in', 0, 0, 10)).length === 3, 'the inputs')
    await sub.stop()
    expect(copied).toBe(true)
    try {
      const raw = await readFile(path.join(copy, 'groups', 'g.json'), 'utf8').catch(() => null)
      expect(raw).toBeNull()
      const restarted = await openCopy(copy)
      expect(await restarted.committedOffsets('g', 'in')).toEqual([3])
      expect(await restarted.committedMetadata('g', 'in', 0)).toBe('meta')
      expect((await readAll(restarted, 'out')).map((r) => r.value.toString())).toEqual([
        'out:v0',
        'out:v1',
        'out:v2',
      ])
    } finally {
      await rm(copy, { recursive: true, force: true })
    }
  })
})

describe('readers', () => {
  it('a read-only open sees committed records only, never an aborted one', async () => {
    const { dir, log } = await setUp()
    const first = await log.subscribe(
      { group: 'g', topics: ['in'], delivery: 'exactly-once', checkpoint: hooks('job') },
      mirrorTo('out'),
    )
    await waitFor(async () => (await log.endOffsets('out'))[0] === 3, 'the outputs to be written')
    const reader = track(await EmbeddedLog.openReadOnly(dir))
    expect(await reader.read('out', 0, 0, 10)).toEqual([])
    await first.stop()
    expect((await reader.read('out', 0, 0, 10)).map((r) => r.offset)).toEqual([0, 1, 2])

    await log.append('in', [{ key: null, value: Buffer.from('v3') }])
    const failing = await log.subscribe(
      { group: 'g', topics: ['in'], delivery: 'exactly-once', checkpoint: hooks('job') },
      mirrorTo('out', async () => {
        throw new Error('fails after appending')
      }),
    )
    await expect(failing.done).rejects.toThrow('fails after appending')
    await log.append('out', [{ key: null, value: Buffer.from('plain') }])
    expect((await reader.read('out', 0, 0, 10)).map((r) => r.value.toString())).toEqual([
      'out:v0',
      'out:v1',
      'out:v2',
      'plain',
    ])
    expect((await log.read('out', 0, 0, 10)).map((r) => r.offset)).toEqual([0, 1, 2, 4])
  })

  it('a plain subscriber is held at the oldest open transaction, then steps over what aborted', async () => {
    const { log } = await setUp()
    const seen: string[] = []
    const reader = await log.subscribe({ group: 'reader', topics: ['out'] }, async (batch) => {
      seen.push(...batch.records.map((r) => r.value.toString()))
    })
    let fail = true
    const blocked = await log.subscribe(
      { group: 'g', topics: ['in'], delivery: 'exactly-once', checkpoint: hooks('job') },
      mirrorTo('out', async () => {
        await new Promise((r) => setTimeout(r, 300))
        if (fail) throw new Error('abort this epoch')
      }),
    )
    // A plain append behind the open transaction waits for it, as in Kafka's read_committed.
    await waitFor(async () => (await log.endOffsets('out'))[0] === 3, 'the transactional outputs')
    await log.append('out', [{ key: null, value: Buffer.from('plain') }])
    await new Promise((r) => setTimeout(r, 50))
    expect(seen).toEqual([])
    await expect(blocked.done).rejects.toThrow('abort this epoch')
    await waitFor(() => seen.length === 1, 'the plain record once the transaction aborted')
    expect(seen).toEqual(['plain'])
    fail = false
    const again = await log.subscribe(
      { group: 'g', topics: ['in'], delivery: 'exactly-once', checkpoint: hooks('job') },
      mirrorTo('out'),
    )
    await waitFor(async () => (await log.endOffsets('out'))[0] === 7, 'the outputs again')
    await again.stop()
    await waitFor(() => seen.length === 4, 'the committed outputs')
    expect(seen).toEqual(['plain', 'out:v0', 'out:v1', 'out:v2'])
    await reader.stop()
    expect(await log.committedOffsets('reader', 'out')).toEqual([7])
  })
})

describe('validation', () => {
  it('refuses a transactional id too long to name its file, at subscribe', async () => {
    const { log } = await setUp()
    await expectCode(
      log.subscribe(
        { group: 'g', topics: ['in'], delivery: 'exactly-once', checkpoint: hooks('x'.repeat(195)) },
        mirrorTo('out'),
      ),
      'LOG_INVALID_ARGUMENT',
      /transactionalId .* too long/,
    )
  })

  it('ends the subscription when prepare returns more than 4 KB of metadata, committing nothing', async () => {
    const { log } = await setUp()
    const sub = await log.subscribe(
      {
        group: 'g',
        topics: ['in'],
        delivery: 'exactly-once',
        checkpoint: hooks('job', { intervalMs: 0, prepare: async () => 'é'.repeat(2049) }),
      },
      mirrorTo('out'),
    )
    await expectCode(sub.done, 'LOG_INVALID_ARGUMENT', /at most 4096 bytes/)
    expect(await log.committedOffsets('g', 'in')).toEqual([-1])
    expect(await log.read('out', 0, 0, 10)).toEqual([])
  })
})

describe('concurrent writers', () => {
  for (const durability of ['batch', 'none'] as const) {
    it(`durability ${durability}: transactions and plain appends sharing batches keep their own records`, async () => {
      const dir = await newDir()
      const log = await openLog(dir, { durability })
      await log.ensureTopic('in1')
      await log.ensureTopic('in2')
      await log.ensureTopic('out', { partitions: 2 })
      const inputs = (prefix: string) =>
        Array.from({ length: 200 }, (_, i) => ({ key: null, value: Buffer.from(`${prefix}${i}`) }))
      await log.append('in1', inputs('a'))
      await log.append('in2', inputs('b'))
      const committing = await log.subscribe(
        {
          group: 'ga',
          topics: ['in1'],
          maxBatchRecords: 9,
          delivery: 'exactly-once',
          checkpoint: hooks('a', { intervalMs: 0 }),
        },
        mirrorTo('out'),
      )
      const aborting = await log.subscribe(
        {
          group: 'gb',
          topics: ['in2'],
          maxBatchRecords: 7,
          delivery: 'exactly-once',
          checkpoint: hooks('b'),
        },
        mirrorTo('out', async (batch) => {
          if (batch.records.at(-1)!.offset >= 150) throw new Error('b aborts')
        }),
      )
      // Plain appends one after another while both transactions write: the log coalesces
      // appends that wait for the one being written into one batch.
      for (let i = 0; i < 60; i++) await log.append('out', [{ key: null, value: Buffer.from(`plain${i}`) }])
      await expect(aborting.done).rejects.toThrow('b aborts')
      await waitFor(async () => (await log.committedOffsets('ga', 'in1'))[0] === 200, 'a to finish')
      await committing.stop()
      const visible = [...(await readAll(log, 'out', 0)), ...(await readAll(log, 'out', 1))]
      const values = visible.map((r) => r.value.toString()).sort()
      const expected = [
        ...Array.from({ length: 200 }, (_, i) => `out:a${i}`),
        ...Array.from({ length: 60 }, (_, i) => `plain${i}`),
      ].sort()
      expect(values).toEqual(expected)
      // The same after a restart: what aborted stays aborted, what committed stays visible.
      await log.close()
      const reopened = await openLog(dir, { durability })
      const again = [...(await readAll(reopened, 'out', 0)), ...(await readAll(reopened, 'out', 1))]
      expect(again.map((r) => r.value.toString()).sort()).toEqual(expected)
    })
  }
})

describe('a crash with transactions interleaved', () => {
  // Small segments: the batches recovery scans for lie in many segments, sealed and last.
  for (const segmentBytes of [undefined, 2048]) {
    it(`recovery aborts exactly the open ones: committed outputs and plain records stay, nothing else (segments of ${segmentBytes ?? 'default'} bytes)`, async () => {
      const copy = `${await newDir()}-copy`
      const dir = await newDir()
      const options = segmentBytes === undefined ? {} : { segmentBytes }
      const log = await openLog(dir, options)
      await log.ensureTopic('in1')
      await log.ensureTopic('in2')
      await log.ensureTopic('out')
      const inputs = (prefix: string) =>
        Array.from({ length: 300 }, (_, i) => ({ key: null, value: Buffer.from(`${prefix}${i}`) }))
      await log.append('in1', inputs('a'))
      await log.append('in2', inputs('b'))
      const slow = () => new Promise<void>((r) => setTimeout(r, 1))
      // a commits every batch; b never commits before the crash.
      await log.subscribe(
        {
          group: 'ga',
          topics: ['in1'],
          maxBatchRecords: 5,
          delivery: 'exactly-once',
          checkpoint: hooks('a', { intervalMs: 0 }),
        },
        mirrorTo('out', slow),
      )
      await log.subscribe(
        {
          group: 'gb',
          topics: ['in2'],
          maxBatchRecords: 5,
          delivery: 'exactly-once',
          checkpoint: hooks('b'),
        },
        mirrorTo('out', slow),
      )
      let plain = 0
      await waitFor(async () => {
        await log.append('out', [{ key: null, value: Buffer.from(`plain${plain++}`) }])
        return (await log.committedOffsets('ga', 'in1'))[0]! >= 100
      }, 'a to commit 100 inputs')
      crashCopy(dir, copy)
      try {
        const restarted = await openCopy(copy, options)
        const [committedA] = await restarted.committedOffsets('ga', 'in1')
        expect(await restarted.committedOffsets('gb', 'in2')).toEqual([-1])
        const visible = (await readAll(restarted, 'out')).map((r) => r.value.toString())
        expect(visible.filter((v) => v.startsWith('out:b'))).toEqual([])
        expect(visible.filter((v) => v.startsWith('out:a'))).toEqual(
          Array.from({ length: committedA! }, (_, i) => `out:a${i}`),
        )
        expect(visible.filter((v) => v.startsWith('plain'))).toEqual(
          Array.from({ length: plain }, (_, i) => `plain${i}`),
        )
        expect(restarted.recoveryReport.some((e) => e.kind === 'transaction-aborted')).toBe(true)
        expect(hasDamage(await verifyDataDir(copy))).toBe(false)
        // Everything before the end has ended now: the tail mark moved there.
        const mark = JSON.parse(
          await readFile(path.join(copy, 'log', 'out', '0', 'transactional.json'), 'utf8'),
        )
        expect(mark.from).toBe((await restarted.endOffsets('out'))[0])
      } finally {
        await rm(copy, { recursive: true, force: true })
      }
    })
  }
})

describe('fencing', () => {
  it('an idle zombie ends with LOG_FENCED as soon as its id is taken, its open work aborted', async () => {
    const { log } = await setUp()
    let revoked = 0
    const zombie = await log.subscribe(
      {
        group: 'zombie',
        topics: ['in'],
        delivery: 'exactly-once',
        checkpoint: hooks('job', { revoked: () => revoked++ }),
      },
      mirrorTo('out'),
    )
    await waitFor(async () => (await log.endOffsets('out'))[0] === 3, 'the zombie to append')
    const successor = await log.subscribe(
      { group: 'successor', topics: ['in'], delivery: 'exactly-once', checkpoint: hooks('job') },
      mirrorTo('out'),
    )
    const error = await zombie.done.then(
      () => null,
      (e: unknown) => e,
    )
    expect(isSluiceError(error, 'LOG_FENCED'), String(error)).toBe(true)
    expect(revoked).toBe(1)
    await successor.stop()
    expect((await log.read('out', 0, 0, 10)).map((r) => [r.offset, r.value.toString()])).toEqual([
      [3, 'out:v0'],
      [4, 'out:v1'],
      [5, 'out:v2'],
    ])
    expect(await log.committedOffsets('zombie', 'in')).toEqual([-1])
  })
})

describe('damage', () => {
  it('a damaged transaction file stops the open; verify reports it and repair leaves it to a human', async () => {
    const dir = await newDir()
    await mkdir(path.join(dir, 'transactions'), { recursive: true })
    await writeFile(path.join(dir, 'transactions', 'job.json'), '{"version":1,"state":"op')
    await expectCode(EmbeddedLog.open(dir), 'LOG_CORRUPT_SEGMENT', /transaction file .*job\.json is damaged/)
    const report = await verifyDataDir(dir)
    expect(report.transactions.map((t) => t.status)).toEqual(['damaged'])
    expect(hasDamage(report)).toBe(true)
    const repaired = await repairDataDir(dir, { dryRun: false })
    expect(repaired.unrepaired.join('\n')).toMatch(/job\.json.*decide by hand/)
  })

  it('a damaged aborted.json makes only its partition unusable', async () => {
    const { dir, log } = await setUp()
    const sub = await log.subscribe(
      { group: 'g', topics: ['in'], delivery: 'exactly-once', checkpoint: hooks('job') },
      mirrorTo('out', async () => {
        throw new Error('abort')
      }),
    )
    await expect(sub.done).rejects.toThrow('abort')
    await log.close()
    const file = path.join(dir, 'log', 'out', '0', 'aborted.json')
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ version: 1, aborted: [{ from: 0, to: 3 }] })
    await writeFile(file, 'not json')
    const reopened = await openLog(dir)
    await expectCode(reopened.read('out', 0, 0, 10), 'LOG_CORRUPT_SEGMENT', /aborted transactions file/)
    expect((await reopened.read('in', 0, 0, 10)).length).toBe(3)
    const report = await verifyDataDir(dir)
    expect(report.topics.find((t) => t.topic === 'out')!.partitions[0]!.problems.map((p) => p.kind)).toEqual([
      'aborted-file',
    ])
  })
})

describe('the transactional tail mark', () => {
  it('is written before the first transactional batch and moves to the stable offset on a commit far past it', async () => {
    const { dir, log } = await setUp()
    await log.append('out', [{ key: null, value: Buffer.from('plain') }])
    const markFile = path.join(dir, 'log', 'out', '0', 'transactional.json')
    const mark = async () => (JSON.parse(await readFile(markFile, 'utf8')) as { from: number }).from
    await expect(readFile(markFile)).rejects.toThrow(/ENOENT/)
    const producer = await log.claim('job', [{ group: 'g', topic: 'in', partition: 0 }], () => {})
    const records = (n: number) => Array.from({ length: n }, () => ({ key: null, value: Buffer.from('x') }))
    await log.appendTransactional('out', records(10), undefined, producer)
    expect(await mark()).toBe(1)
    // A commit close behind the mark leaves it (one write saved per commit).
    await producer.commit([1], 'm')
    expect(await mark()).toBe(1)
    await log.appendTransactional('out', records(70_000), undefined, producer)
    await producer.commit([2], 'm')
    expect(await mark()).toBe(70_011)
    await producer.close()
  })
})
