/**
 * A `match` step compiled and run by the pipeline runner on the embedded log: its matches, its late
 * events, its timed-out partial matches and its metrics; and, under exactly-once with crashes
 * (test/support/crash-injection.ts), the committed output of a run that crashed and restarted from
 * its checkpoints equals that of a run that never crashed: nothing lost, nothing twice.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { writeArtifact } from '../../compiler/artifact/package.ts'
import { compileSource } from '../../compiler/compile.ts'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { crashRunFixture, jsonRecord, replayableRuns } from '../../test/support/crash-run.ts'
import { readTopic } from '../../test/support/read-topic.ts'
import { CEP_WASM_PATH } from '../../wasm/host/cep-kernel.ts'
import { type LoadedArtifact, loadArtifact } from '../artifact/load.ts'
import { EmbeddedLog } from '../log/embedded.ts'
import { partitionForKey } from '../log/partitioner.ts'
import { MetricsRegistry } from '../metrics/registry.ts'
import { DEAD_LETTER_HEADERS, DEFAULT_DEAD_LETTER_TOPIC, PipelineRunner } from '../node/pipeline-runner.ts'
import { FileSnapshotStore } from '../state/file-snapshot-store.ts'

const KERNEL_BUILT = existsSync(CEP_WASM_PATH)

const FRAUD = `
schema Payment { card: string, amount: f64, country: string, ts: timestamp @event_time }
source payments: Payment from kafka("payments") watermark ts
stream alerts = payments
  | match by card within 10m
      pattern small{2} followed by large
      define
        small as amount < 1000.0,
        large as amount > 50000.0 and country == first(small).country
      skip past last event
      late into late_payments
      timeout into expired { card: first(small).card, smalls: count(small) }
      { card: large.card, total_small: sum(small.amount), large_amount: large.amount }
sink alerts -> kafka("alerts")
sink late_payments -> kafka("late")
sink expired -> kafka("expired")
`

const dirs: string[] = []
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
})

const T0 = Date.UTC(2026, 0, 1)
const at = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString()
const payment = (card: string, amount: number, minutes: number, country = 'NL') => ({
  key: card,
  value: Buffer.from(JSON.stringify({ card, amount, country, ts: at(minutes) })),
})
const values = async (log: EmbeddedLog, topic: string) =>
  (await readTopic(log, topic)).map((r) => ({ key: r.key, value: JSON.parse(r.value.toString()) as unknown }))

describe('a match step in the runner', () => {
  it('emits matches keyed by the card, late events to its late stream, timeouts to its timeout stream', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-cep-runner-'))
    dirs.push(dir)
    const artifact = await loadArtifact(await compileFixture(FRAUD, 'cep-runner'))
    const log = await EmbeddedLog.open(dir)
    const store = new FileSnapshotStore(join(dir, 'state'))
    const metrics = new MetricsRegistry()
    try {
      await log.ensureTopic('payments')
      await log.append('payments', [
        // Card A: two small payments then a large one in the same country: a match.
        payment('A', 100, 0),
        payment('A', 200, 1),
        payment('A', 60_000, 2),
        // Card B: two small payments, nothing more: they time out 10 minutes after the first.
        payment('B', 10, 3),
        payment('B', 20, 4),
        // Card D: the large payment is abroad: no match.
        payment('D', 1, 5),
        payment('D', 2, 6),
        payment('D', 70_000, 7, 'FR'),
        // Moves the watermark to 30 min; nothing of card C matches.
        payment('C', 5000, 30),
      ])
      const runner = await PipelineRunner.start({ log, artifact, metrics, stateStore: store })
      await runner.waitUntilCaughtUp(20_000)
      // Behind the watermark (30 min) when it arrives: late.
      await log.append('payments', [payment('A', 300, 20)])
      await runner.waitUntilCaughtUp(20_000)
      const text = await metrics.render()
      await runner.stop()
      await runner.done

      expect(await values(log, 'alerts')).toEqual([
        { key: 'A', value: { card: 'A', total_small: 300, large_amount: 60_000 } },
      ])
      expect(await values(log, 'late')).toEqual([
        { key: 'A', value: { card: 'A', amount: 300, country: 'NL', ts: at(20) } },
      ])
      const expired = await values(log, 'expired')
      // Both of B's partial matches (from its first and from its second payment) ran out; so did
      // D's (the large payment abroad did not complete them).
      expect(expired).toContainEqual({ key: 'B', value: { card: 'B', smalls: 2 } })
      expect(new Set(expired.map((e) => e.key))).toEqual(new Set(['B', 'D']))
      expect(await readTopic(log, DEFAULT_DEAD_LETTER_TOPIC)).toEqual([])
      expect(text).toMatch(/sluice_cep_matches_total\{operator="alerts#1"\} 1/)
      expect(text).toMatch(new RegExp(`sluice_cep_timeouts_total\\{operator="alerts#1"\\} ${expired.length}`))
      expect(text).toMatch(/sluice_cep_partial_matches\{operator="alerts\.match\.0\.[0-9a-f]+"\} 0/)
      expect(text).toMatch(/sluice_events_late_total\{operator="alerts#1"\} 1/)
    } finally {
      await log.close()
      await store.close()
    }
  })

  it('dead-letters late events with the reason when nothing reads its late stream, and emits no key without `by`', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-cep-runner-'))
    dirs.push(dir)
    const text = `
schema Payment { card: string, amount: f64, country: string, ts: timestamp @event_time }
source payments: Payment from kafka("payments") watermark ts
stream rises = payments
  | match within 5m pattern low next high define low as amount < 10.0, high as amount > 100.0
      { low: low.amount, high: high.amount, card: high.card }
sink rises -> kafka("rises")
`
    const artifact = await loadArtifact(await compileFixture(text, 'cep-runner-nokey'))
    // Event-local conditions: the kernel steps it when it is built (compiler/compile.ts).
    expect(artifact.manifest.graph.nodes.find((n) => n.kind === 'Match')).toMatchObject({
      execution: KERNEL_BUILT ? 'wasm' : 'typescript',
    })
    const log = await EmbeddedLog.open(dir)
    const store = new FileSnapshotStore(join(dir, 'state'))
    try {
      await log.ensureTopic('payments')
      await log.append('payments', [
        payment('A', 5, 0),
        payment('B', 500, 1),
        payment('C', 7, 2),
        payment('C', 8, 3),
        payment('D', 900, 4),
        payment('E', 1, 10),
        payment('F', 1, 1),
      ])
      const runner = await PipelineRunner.start({
        log,
        artifact,
        metrics: new MetricsRegistry(),
        stateStore: store,
      })
      await runner.waitUntilCaughtUp(20_000)
      await runner.stop()
      await runner.done
      // One key for all events: A then B is a match (strict contiguity across cards), C then C is not.
      expect(await values(log, 'rises')).toEqual([
        { key: null, value: { low: 5, high: 500, card: 'B' } },
        { key: null, value: { low: 8, high: 900, card: 'D' } },
      ])
      const dead = await readTopic(log, DEFAULT_DEAD_LETTER_TOPIC)
      expect(dead).toHaveLength(1)
      expect(dead[0]!.headers[DEAD_LETTER_HEADERS.stage]).toBe('late')
      expect(dead[0]!.headers[DEAD_LETTER_HEADERS.reason]).toMatch(/is before the watermark/)
    } finally {
      await log.close()
      await store.close()
    }
  })
})

const PARTITIONS = 2
/** Reads earlier steps (`count(up)`, `last(up)`): the TypeScript NFA runs it. */
const CRASH_PIPE = `
schema E { id: i64, k: string, v: i64, ts: timestamp @event_time }
source events: E from kafka("events") watermark ts
stream runs = events
  | match by k within 20s
      pattern up+ next down
      define up as v > 0 and (count(up) == 0 or v >= (last(up).v ?? 0)), down as v < 0
      timeout into stalled { k: first(up).k, ups: count(up) }
      { k: down.k, first_id: first(up).id, ups: count(up), down_id: down.id }
sink runs -> kafka("out")
sink stalled -> kafka("stalled")
`

/** Event-local conditions: the WebAssembly pattern kernel runs it (when built). */
const LOCAL_CRASH_PIPE = `
schema E { id: i64, k: string, v: i64, ts: timestamp @event_time }
source events: E from kafka("events") watermark ts
stream runs = events
  | match by k within 20s
      pattern up+ next down
      define up as v > 0, down as v < 0
      timeout into stalled { k: first(up).k, ups: count(up) }
      { k: down.k, first_id: first(up).id, ups: count(up), down_id: down.id }
sink runs -> kafka("out")
sink stalled -> kafka("stalled")
`

const crashRun = crashRunFixture('sluice-cep-crash')
const artifacts = new Map<string, Promise<LoadedArtifact>>()

/** The pipe compiled (once) with the engine choice `cepExecution`. */
function artifactOf(pipe: string, cepExecution: 'auto' | 'typescript'): Promise<LoadedArtifact> {
  const id = `${cepExecution}\u0000${pipe}`
  let pending = artifacts.get(id)
  if (pending === undefined) {
    pending = (async () => {
      const result = compileSource('crash.pipe', pipe, { name: `cep-crash-${artifacts.size}`, cepExecution })
      if (result.artifact === null) throw new Error(result.diagnostics.map((d) => d.message).join('\n'))
      const dir = await mkdtemp(join(tmpdir(), 'sluice-cep-artifact-'))
      dirs.push(dir)
      await writeArtifact(result.artifact, join(dir, 'artifact'))
      return loadArtifact(join(dir, 'artifact'))
    })()
    artifacts.set(id, pending)
  }
  return pending
}

interface Ev {
  readonly id: number
  readonly k: string
  readonly v: number
  readonly ts: number
}

/** Events in event-time order per key (so none is late, whatever the batches), some out of order across keys. */
const eventsArb = fc
  .array(
    fc.record({
      k: fc.constantFrom('a', 'b', 'c', 'd'),
      v: fc.integer({ min: -3, max: 5 }),
      step: fc.integer({ min: 0, max: 4000 }),
    }),
    { minLength: 5, maxLength: 40 },
  )
  .map((raw) => {
    const clock = new Map<number, number>()
    return raw.map(({ k, v, step }, id): Ev => {
      const partition = partitionForKey(k, PARTITIONS)
      const ts = (clock.get(partition) ?? T0) + step
      clock.set(partition, ts)
      return { id, k, v, ts }
    })
  })

async function runCrashing(
  artifact: LoadedArtifact,
  events: readonly Ev[],
  crashes: readonly number[],
  maxBatchRecords: number,
): Promise<{ rows: string[]; crashed: number }> {
  const { result, crashed } = await crashRun.runCrashing({
    artifact,
    partitions: PARTITIONS,
    inputs: {
      events: events.map((e) =>
        jsonRecord(e.k, { id: e.id, k: e.k, v: e.v, ts: new Date(e.ts).toISOString() }),
      ),
    },
    crashes,
    maxBatchRecords,
    read: async (log) => {
      const rows = async (topic: string) =>
        (await readTopic(log, topic)).map((r) => `${topic} ${r.key} ${r.timestamp} ${r.value.toString()}`)
      return [...(await rows('out')), ...(await rows('stalled'))].sort()
    },
  })
  return { rows: result, crashed }
}

describe('a match step in the runner, with crashes under exactly-once (property)', () => {
  it.each([
    ['an iterative pattern (TypeScript NFA)', CRASH_PIPE, 'typescript'],
    [
      'an event-local pattern (WebAssembly kernel when built)',
      LOCAL_CRASH_PIPE,
      KERNEL_BUILT ? 'wasm' : 'typescript',
    ],
  ])(
    '%s commits what a run without crashes commits: nothing lost, nothing twice',
    async (_, pipe, execution) => {
      // The reference run has no crash and runs on the TypeScript NFA: on the event-local pattern
      // the crashing run also compares the kernel with it.
      const reference = await artifactOf(pipe, 'typescript')
      const artifact = await artifactOf(pipe, 'auto')
      expect(artifact.manifest.graph.nodes.find((n) => n.kind === 'Match')).toMatchObject({ execution })
      let crashes = 0
      let matched = 0
      await fc.assert(
        fc.asyncProperty(
          eventsArb,
          fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 3 }),
          fc.integer({ min: 1, max: 7 }),
          async (events, points, maxBatchRecords) => {
            const expected = await runCrashing(reference, events, [], 1000)
            const result = await runCrashing(artifact, events, points, maxBatchRecords)
            crashes += result.crashed
            matched += expected.rows.length
            expect(result.rows).toEqual(expected.rows)
          },
        ),
        replayableRuns(8),
      )
      // The property saw crashes and results, or it could not have failed.
      expect(crashes).toBeGreaterThan(0)
      expect(matched).toBeGreaterThan(0)
    },
    240_000,
  )
})
