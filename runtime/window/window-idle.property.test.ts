/**
 * Idle partitions as a property (docs/decisions/0028): random windows (tumbling, hopping, lateness,
 * watermark delay) over random out-of-order events of source partition 0, which then stops
 * sending; after the idle timeout (an injected clock) partition 1 delivers one event at time M,
 * and partition 0's windows must fire on a tick, without a record of its own, exactly as the
 * brute-force reference says when the partition's watermark moves to M − delay after its last
 * arrival (test/support/window-reference.ts withIdleTick). Then partition 0 sends again: its events
 * behind that watermark are late. Runs on the real PipelineRunner over an embedded log, under
 * exactly-once, on the TypeScript store and the WebAssembly kernel.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { readTopic } from '../../test/support/read-topic.ts'
import {
  type WindowRefEvent,
  type WindowRefShape,
  windowEmissions,
  withIdleTick,
} from '../../test/support/window-reference.ts'
import { loadArtifact } from '../artifact/load.ts'
import { waitFor } from '../log/conformance-support.ts'
import { EmbeddedLog } from '../log/embedded.ts'
import { ForwardingLog } from '../log/forwarding-log.ts'
import type { RecordBatch, SubscribeOptions, Subscription } from '../log/index.ts'
import { MetricsRegistry } from '../metrics/registry.ts'
import { DEAD_LETTER_HEADERS, DEFAULT_DEAD_LETTER_TOPIC, PipelineRunner } from '../node/pipeline-runner.ts'
import { FileSnapshotStore } from '../state/file-snapshot-store.ts'

const RUNS = Number(process.env.SLUICE_PROPERTY_RUNS ?? 6)
const T = Date.UTC(2026, 0, 1)
const FNS = ['window_start', 'count', 'sum'] as const

interface Ev {
  readonly k: string
  readonly v: number
  readonly t: number
}

interface Scenario {
  readonly shape: WindowRefShape & { readonly kind: 'tumbling' | 'hopping' }
  /** Partition 0's events before it goes idle. */
  readonly before: readonly Ev[]
  /** The time of partition 1's event after the timeout (what partition 0 follows). */
  readonly mover: number
  /** Partition 0's events after it delivers again. */
  readonly after: readonly Ev[]
}

const scenarios: fc.Arbitrary<Scenario> = fc
  .record({
    kind: fc.constantFrom('tumbling' as const, 'hopping' as const),
    size: fc.integer({ min: 2, max: 6 }),
    slide: fc.integer({ min: 1, max: 6 }),
    lateness: fc.constantFrom(0, 0, 1, 3),
    delay: fc.constantFrom(0, 1, 2),
    before: fc.array(
      fc.record({ k: fc.constantFrom('a', 'b', 'c'), v: fc.integer({ min: -5, max: 20 }), t: fc.nat(30) }),
      { minLength: 1, maxLength: 25 },
    ),
    moverAhead: fc.integer({ min: -5, max: 40 }),
    after: fc.array(
      fc.record({ k: fc.constantFrom('a', 'b', 'c'), v: fc.integer({ min: -5, max: 20 }), t: fc.nat(80) }),
      { maxLength: 6 },
    ),
  })
  .map(({ kind, size, slide, lateness, delay, before, moverAhead, after }) => {
    const q = 100
    const sizeMs = size * q
    const slideMs = kind === 'tumbling' ? sizeMs : Math.min(slide, size) * q
    const scale = (e: Ev) => ({ ...e, t: e.t * q })
    const maxBefore = Math.max(...before.map((e) => e.t))
    return {
      shape: { kind, sizeMs, slideMs, latenessMs: lateness * q, delayMs: delay * q },
      before: before.map(scale),
      mover: (maxBefore + moverAhead) * q,
      after: after.map(scale),
    }
  })

function pipeOf(s: Scenario): string {
  const { kind, sizeMs, slideMs, latenessMs, delayMs } = s.shape
  const window = kind === 'tumbling' ? `tumbling ${sizeMs}ms` : `hopping ${sizeMs}ms every ${slideMs}ms`
  const lateness = latenessMs > 0 ? ` lateness ${latenessMs}ms` : ''
  return `
schema Ev { k: string, v: i64, ts: timestamp @event_time }
source evs: Ev from kafka("in") watermark ts - ${delayMs}ms
stream w = evs | where k != "mover" | aggregate by k window ${window}${lateness} { start: window_start(), n: count(), s: sum(v) }
sink w -> kafka("out")
`
}

const recordOf = (e: Ev, partition: number) => ({
  key: e.k,
  value: Buffer.from(JSON.stringify({ k: e.k, v: e.v, ts: new Date(T + e.t).toISOString() })),
  partition,
})

const refEvent = (e: Ev): WindowRefEvent => ({ time: e.t, key: e.k, args: [null, null, e.v], dropped: false })

type Row = [k: string, start: number, n: number, s: number]

/** What partition 0's window must emit, in order, and how many of its events are late. */
function expected(s: Scenario): { rows: Row[]; late: number } {
  const events = withIdleTick(
    [...s.before, ...s.after].map(refEvent),
    s.shape.delayMs,
    s.before.length - 1,
    s.mover - s.shape.delayMs,
  )
  const rows = windowEmissions(events, s.shape, [...FNS]).map(
    (r): Row => [r.key, r.start, r.values[1] as number, r.values[2] as number],
  )
  const tickAt = s.before.length
  const w = events.map((e) => e.watermark!)
  const late = events.filter(
    (e, i) =>
      !e.dropped &&
      i !== tickAt &&
      startsOf(e.time, s.shape).every((start) => start + s.shape.sizeMs + s.shape.latenessMs <= w[i]!),
  ).length
  return { rows, late }
}

function startsOf(time: number, shape: WindowRefShape): number[] {
  const starts: number[] = []
  const last = Math.floor(time / shape.slideMs) * shape.slideMs
  for (let start = last; start > time - shape.sizeMs; start -= shape.slideMs) starts.push(start)
  return starts
}

async function run(s: Scenario, execution: 'typescript' | 'wasm'): Promise<{ rows: Row[]; late: number }> {
  const artifact = await loadArtifact(
    await compileFixture(pipeOf(s), `window-idle-${execution}`, 'fixture.pipe', {
      windowExecution: execution,
    }),
  )
  const dir = await mkdtemp(join(tmpdir(), 'sluice-window-idle-'))
  const log = new TickCountingLog(await EmbeddedLog.open(dir, { durability: 'none' }))
  const stateStore = new FileSnapshotStore(join(dir, 'state'), { fsync: false })
  const metrics = new MetricsRegistry()
  let now = 0
  try {
    await log.ensureTopic('in', { partitions: 2 })
    await log.ensureTopic('out', { partitions: 1 })
    await log.append(
      'in',
      s.before.map((e) => recordOf(e, 0)),
    )
    const runner = await PipelineRunner.start({
      log,
      artifact,
      metrics,
      stateStore,
      delivery: 'exactly-once',
      partitions: 2,
      checkpointIntervalMs: 1,
      idleTimeoutMs: 1000,
      tickIntervalMs: 2,
      clock: () => now,
    })
    try {
      await runner.waitUntilCaughtUp(20_000)
      now = 10_000
      const idle = () => metrics.find('sluice_idle_partitions')?.value({ source: 'evs' }) ?? 0
      await waitFor(() => idle() === 1, 'partition 0 idle')
      await log.append('in', [recordOf({ k: 'mover', v: 0, t: s.mover }, 1)])
      await runner.waitUntilCaughtUp(20_000)
      // Partition 0 follows partition 1 on its next tick (one that starts after the mover's batch,
      // since the embedded subscription hands out one batch or tick at a time).
      const ticks = log.ticks
      await waitFor(() => log.ticks > ticks, 'a tick of partition 0 after the mover')
      await log.append(
        'in',
        s.after.map((e) => recordOf(e, 0)),
      )
      await runner.waitUntilCaughtUp(20_000)
    } finally {
      await runner.stop()
    }
    const rows = (await readTopic(log, 'out')).map((r) => {
      const o = JSON.parse(r.value.toString()) as { k: string; start: string; n: number; s: number }
      return [o.k, Date.parse(o.start) - T, o.n, o.s] as Row
    })
    const late = (await readTopic(log, DEFAULT_DEAD_LETTER_TOPIC)).filter(
      (d) => d.headers[DEAD_LETTER_HEADERS.stage] === 'late',
    ).length
    return { rows, late }
  } finally {
    await stateStore.close()
    await log.close()
    await rm(dir, { recursive: true, force: true })
  }
}

/** Counts the ticks of partition 0 the runner has handled. */
class TickCountingLog extends ForwardingLog {
  ticks = 0

  override subscribe(
    options: SubscribeOptions,
    handler: (batch: RecordBatch) => Promise<void>,
  ): Promise<Subscription> {
    return this.inner.subscribe(options, async (batch) => {
      await handler(batch)
      if (batch.tick === true && batch.partition === 0) this.ticks++
    })
  }
}

describe('windows of an idle partition (property)', () => {
  for (const execution of ['typescript', 'wasm'] as const) {
    it(`fire on a tick by the other partition's watermark, as the reference says (${execution})`, async () => {
      await fc.assert(
        fc.asyncProperty(scenarios, async (s) => {
          const want = expected(s)
          const got = await run(s, execution)
          expect(got.rows).toEqual(want.rows)
          expect(got.late).toBe(want.late)
        }),
        { numRuns: RUNS },
      )
    }, 300_000)
  }
})
