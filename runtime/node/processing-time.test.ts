/**
 * Processing-time windows (`window tumbling 1s processing time`) in the runner, with an injected
 * clock: events go to the window of the clock when they are processed, whatever their event time;
 * windows fire on a tick when the clock passes their end, without a new record; under
 * exactly-once a crash while a tick's results are being written loses nothing and duplicates
 * nothing (the window is in the last checkpoint, and the next life's tick fires it again).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { InjectedCrash, withTimeout } from '../../test/support/crash-injection.ts'
import { readTopic } from '../../test/support/read-topic.ts'
import { loadArtifact } from '../artifact/load.ts'
import { waitFor } from '../log/conformance-support.ts'
import { EmbeddedLog } from '../log/embedded.ts'
import { ForwardingLog } from '../log/forwarding-log.ts'
import type { Log, RecordBatch, SubscribeOptions, Subscription } from '../log/index.ts'
import { MetricsRegistry } from '../metrics/registry.ts'
import { FileSnapshotStore } from '../state/file-snapshot-store.ts'
import { PipelineRunner } from './pipeline-runner.ts'

const PIPE = `
schema Ev { k: string, v: i64, ts: timestamp @event_time }
source evs: Ev from kafka("in")
stream w = evs | aggregate by k window tumbling 1s processing time { start: window_start(), n: count(), s: sum(v) }
sink w -> kafka("out")
`
/** The clock's start: a window boundary. */
const T = Date.UTC(2026, 0, 1, 12)
/** Event times far from the clock: a processing-time window ignores them. */
const record = (k: string, v: number) => ({
  key: k,
  value: Buffer.from(JSON.stringify({ k, v, ts: new Date(Date.UTC(1999, 0, 1)).toISOString() })),
})

interface Row {
  readonly k: string
  readonly start: string
  readonly n: number
  readonly s: number
}

/** Fails the first append to `out` made through a batch's transaction (a tick's results). */
class CrashOnFirstOutput extends ForwardingLog {
  crashed = false

  constructor(inner: Log) {
    super(inner)
  }

  override subscribe(
    options: SubscribeOptions,
    handler: (batch: RecordBatch) => Promise<void>,
  ): Promise<Subscription> {
    return super.subscribe(options, (batch) => {
      const inner = batch.transaction
      if (inner === undefined) return handler(batch)
      return handler({
        ...batch,
        transaction: {
          append: (topic, records, appendOptions) => {
            if (topic === 'out' && !this.crashed) {
              this.crashed = true
              throw new InjectedCrash('injected crash while writing a tick’s window results')
            }
            return inner.append(topic, records, appendOptions)
          },
        },
      })
    })
  }
}

describe('processing-time windows', () => {
  it('assign by the clock, fire on a tick, and survive a crash while firing under exactly-once', async () => {
    const artifact = await loadArtifact(await compileFixture(PIPE, 'processing-time'))
    const dir = await mkdtemp(join(tmpdir(), 'sluice-processing-time-'))
    let now = T + 200
    const start = async (log: Log, stateStore: FileSnapshotStore) =>
      PipelineRunner.start({
        log,
        artifact,
        metrics: new MetricsRegistry(),
        stateStore,
        delivery: 'exactly-once',
        checkpointIntervalMs: 1,
        tickIntervalMs: 5,
        clock: () => now,
      })
    const rows = async (log: Log) =>
      (await readTopic(log, 'out')).map((r) => JSON.parse(r.value.toString()) as Row)
    try {
      // Life 1: three events at T + 200 ms, checkpointed in window [T, T + 1 s); the clock then
      // passes its end, and the tick that fires it crashes while writing the results.
      {
        const inner = await EmbeddedLog.open(dir, { durability: 'none' })
        const store = new FileSnapshotStore(join(dir, 'state'), { fsync: false })
        const log = new CrashOnFirstOutput(inner)
        try {
          await inner.ensureTopic('in')
          await inner.append('in', [record('a', 1), record('a', 2), record('b', 5)])
          const runner = await start(log, store)
          await runner.waitUntilCaughtUp(20_000)
          expect(await rows(inner), 'nothing fires before the clock passes the window').toEqual([])
          now = T + 1500
          await expect(withTimeout(runner.done, 'the crash of life 1')).rejects.toBeInstanceOf(InjectedCrash)
          await runner.stop()
          expect(await rows(inner), 'the crashed tick’s results were aborted').toEqual([])
        } finally {
          await inner.close()
          await store.close()
        }
      }
      // Life 2: restored from the checkpoint; its first tick fires the window, once.
      const log = await EmbeddedLog.open(dir, { durability: 'none' })
      const store = new FileSnapshotStore(join(dir, 'state'), { fsync: false })
      try {
        const runner = await start(log, store)
        await waitFor(async () => (await rows(log)).length >= 2, 'the window [T, T + 1 s) fired')
        // More events, now in window [T + 1 s, T + 2 s), which fires when the clock passes it.
        await log.append('in', [record('a', 10)])
        await runner.waitUntilCaughtUp(20_000)
        expect((await rows(log)).length).toBe(2)
        now = T + 2000
        await waitFor(async () => (await rows(log)).length >= 3, 'the window [T + 1 s, T + 2 s) fired')
        await runner.stop()
        const first = new Date(T).toISOString()
        const second = new Date(T + 1000).toISOString()
        expect(await rows(log)).toEqual([
          { k: 'a', start: first, n: 2, s: 3 },
          { k: 'b', start: first, n: 1, s: 5 },
          { k: 'a', start: second, n: 1, s: 10 },
        ])
      } finally {
        await log.close()
        await store.close()
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
