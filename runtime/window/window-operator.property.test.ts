/**
 * Windowed aggregates as properties, on random streams and random windows (tumbling, hopping,
 * sizes no multiple of the slide, lateness, watermark delay; out-of-order and very late events,
 * null arguments, events a `where` drops, times on window boundaries and before 1970):
 *
 * - the reference interpreter emits exactly the emissions the brute-force rules of
 *   test/support/window-reference.ts give, updates included, and for a window over a window's
 *   results (variant `chain`) every emission of the second window the brute-force chain gives;
 * - the real PipelineRunner (WebAssembly kernel and TypeScript store) on an embedded log, with
 *   random batch cuts, crashes and graceful stops (each followed by a new runner on the same log
 *   and state directories) under exactly-once, commits exactly the interpreter's output
 *   (values, keys, timestamps, in order), and the last emission of each window and the late
 *   events equal the brute force's final results;
 * - the output does not depend on batch cuts or restarts, nor a partition's on the others';
 * - results that fail (i64 sum overflow) are dead-lettered with the interpreter's source events;
 * - snapshots that compact the key dictionary (thousands of keys) change nothing;
 * - at-least-once with crashes: the output less replayed duplicates is the interpreter's.
 *
 * Windows keep state per source partition: events carry their partition in a field `p` that is
 * also a key of the aggregate, so each output record names the partition that produced it, and
 * each partition's output is compared with the references fed that partition's events alone.
 * Partitions are chosen by key, at random, or by key with all but the first left idle for a
 * long stretch (their watermark stays behind while another's moves on).
 *
 * To replay a failure: SLUICE_PROPERTY_SEED=<seed> SLUICE_PROPERTY_PATH=<path>; to run longer:
 * SLUICE_PROPERTY_RUNS=<runs> (each property's run count).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { writeArtifact } from '../../compiler/artifact/package.ts'
import { compileSource } from '../../compiler/compile.ts'
import { checkSource } from '../../compiler/frontend.ts'
import { createInterpreter } from '../../compiler/ir/interpret.ts'
import { stdlib } from '../../stdlib/index.ts'
import { readTopic } from '../../test/support/read-topic.ts'
import {
  chainedEvents,
  countWindowEmissions,
  finalWindowResults,
  type RefValue,
  type WindowFn,
  type WindowRefEmit,
  type WindowRefEvent,
  type WindowRefResult,
  type WindowRefShape,
  windowEmissions,
} from '../../test/support/window-reference.ts'
import { type LoadedArtifact, loadArtifact } from '../artifact/load.ts'
import { EmbeddedLog } from '../log/embedded.ts'
import { ForwardingLog } from '../log/forwarding-log.ts'
import type { Log, RecordBatch, SubscribeOptions, Subscription } from '../log/index.ts'
import { MetricsRegistry } from '../metrics/registry.ts'
import { DEAD_LETTER_HEADERS, DEFAULT_DEAD_LETTER_TOPIC, PipelineRunner } from '../node/pipeline-runner.ts'
import { FileSnapshotStore } from '../state/file-snapshot-store.ts'
import { WindowOperator } from './window-operator.ts'

/** Fields of the event, and two expressions of a string and a bool (max_by's rich `x`). */
type Column = 'amount' | 'n' | 'ts' | 'to_string(n)' | 'keep'
/** The aggregates: field, function, argument (the reference's argument column), and max_by's `by`. */
const AGGREGATES: [name: string, fn: WindowFn, arg: Column | null, by?: Column][] = [
  ['start', 'window_start', null],
  ['end', 'window_end', null],
  ['final', 'window_final', null],
  ['c', 'count', null],
  ['total', 'sum', 'amount'],
  ['isum', 'sum', 'n'],
  ['lo', 'min', 'amount'],
  ['hi', 'max', 'n'],
  ['mean', 'avg', 'amount'],
  ['imean', 'avg', 'n'],
  ['fa', 'first', 'amount'],
  ['ln', 'last', 'n'],
  ['la', 'last', 'amount'],
  ['fts', 'first', 'ts'],
  ['maxts', 'max', 'ts'],
  ['mints', 'min', 'ts'],
  ['mbn', 'max_by', 'n', 'amount'],
  ['mba', 'min_by', 'amount', 'n'],
  ['mbt', 'max_by', 'ts', 'n'],
  ['mbl', 'min_by', 'n', 'ts'],
  ['mbs', 'max_by', 'to_string(n)', 'amount'],
  ['mbk', 'min_by', 'keep', 'ts'],
]
const FNS = AGGREGATES.map(([, fn]) => fn)
const TIMESTAMP_FIELDS = new Set(['start', 'end', 'fts', 'maxts', 'mints', 'mbt'])

/**
 * The second window of the `chain` variant, over the first one's results (keyed by partition
 * only): field, function, argument and `by` (fields of the first window's results).
 */
const CHAINED: [name: string, fn: WindowFn, arg: string | null, by?: string][] = [
  ['start', 'window_start', null],
  ['c', 'count', null],
  ['events', 'sum', 'c'],
  ['hot', 'max_by', 'hi', 'c'],
  ['cold', 'min_by', 'total', 'lo'],
  ['lastn', 'last', 'ln'],
  ['firstend', 'first', 'end'],
  ['latest', 'max', 'maxts'],
  ['hots', 'max_by', 'mbs', 'c'],
]
const CHAINED_TIMESTAMPS = new Set(['start', 'firstend', 'latest'])

/**
 * For a session window, `sizeMs` is the gap (and `slideMs` the same). For a count window, `sizeMs`
 * and `slideMs` are numbers of events (`count sizeMs every slideMs`), and the lateness is 0.
 */
interface Shape extends WindowRefShape {
  readonly kind: 'tumbling' | 'hopping' | 'session' | 'count'
  /** Early results (time windows); absent: on close. */
  readonly emit?: WindowRefEmit
}

interface Ev {
  readonly id: number
  readonly k: string
  readonly p: number
  readonly amount: number | null
  readonly n: number | null
  readonly keep: boolean
  readonly ts: number
}

/**
 * `single`: one window. `fan-out`: a second window (another shape, keyed by partition only, no
 * `where`) reads the source too. `chain`: a second window (keyed by partition only) reads the
 * first one's results, which then has no lateness (E0430).
 */
type Variant = 'single' | 'fan-out' | 'chain'

interface Scenario {
  readonly shape: Shape
  readonly partitions: number
  readonly events: readonly Ev[]
  readonly variant: Variant
  /** The second window's shape (its lateness and the source's delay as in `shape`). */
  readonly second: Shape
}

/** The sink topics of a variant: the first window's results and late events, then the second's. */
function topicsOf(variant: Variant): string[] {
  return variant === 'single' ? ['out', 'late'] : ['out', 'late', 'out2', 'late2']
}

function windowClause(shape: Shape): string {
  if (shape.kind === 'count') {
    return `window count ${shape.sizeMs}${shape.slideMs === shape.sizeMs ? '' : ` every ${shape.slideMs}`}`
  }
  const kind =
    shape.kind === 'tumbling'
      ? `tumbling ${shape.sizeMs}ms`
      : shape.kind === 'session'
        ? `session ${shape.sizeMs}ms`
        : `hopping ${shape.sizeMs}ms every ${shape.slideMs}ms`
  const emit =
    shape.emit === undefined
      ? ''
      : shape.emit.kind === 'every'
        ? ` emit every ${shape.emit.everyMs}ms`
        : ' emit on update'
  return `window ${kind}${shape.latenessMs > 0 ? ` lateness ${shape.latenessMs}ms` : ''}${emit}`
}

function pipeText(s: Pick<Scenario, 'shape' | 'variant' | 'second'>): string {
  const call = ([name, fn, arg, by]: readonly [string, string, string | null, string?]) =>
    `${name}: ${fn}(${arg ?? ''}${by === undefined ? '' : `, ${by}`})`
  const fields = AGGREGATES.map(call).join(', ')
  const second = {
    single: '',
    'fan-out': `stream w2 = evs | aggregate by p ${windowClause(s.second)} late into late2 { start: window_start(), c: count(), total: sum(amount), last_n: last(n), hi: max(ts) }`,
    chain: `stream w2 = w | where c > 0 | aggregate by p ${windowClause(s.second)} late into late2 { ${CHAINED.map(call).join(', ')} }`,
  }[s.variant]
  return `
schema Ev { id: i64, k: string, p: i64, amount: f64?, n: i64?, keep: bool, ts: timestamp @event_time }
source evs: Ev from kafka("in") watermark ts - ${s.shape.delayMs}ms
stream w = evs | where keep | aggregate by k, p ${windowClause(s.shape)} late into late_evs { ${fields} }
sink w -> kafka("out")
sink late_evs -> kafka("late")
${second}
${second === '' ? '' : 'sink w2 -> kafka("out2")\nsink late2 -> kafka("late2")'}
`
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

const shapeArb: fc.Arbitrary<Shape> = fc
  .record({
    kind: fc.constantFrom<'tumbling' | 'hopping'>('tumbling', 'hopping'),
    sizeMs: fc.integer({ min: 20, max: 1500 }),
    // Up to 6 windows per event; the jitter makes sizes that are no multiple of the slide.
    perEvent: fc.integer({ min: 1, max: 6 }),
    jitter: fc.integer({ min: -7, max: 7 }),
    latenessMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1500 })),
    delayMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 300 })),
  })
  .map(({ kind, sizeMs, perEvent, jitter, latenessMs, delayMs }) => {
    const slideMs =
      kind === 'tumbling' ? sizeMs : Math.min(sizeMs, Math.max(1, Math.ceil(sizeMs / perEvent) + jitter))
    return { kind, sizeMs, slideMs, latenessMs, delayMs }
  })

const rawEventArb = fc.record({
  key: fc.nat({ max: 299 }),
  advance: fc.integer({ min: 0, max: 120 }),
  disorder: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 800 })),
  // One in 15 is very late: seconds behind.
  veryLate: fc.integer({ min: 0, max: 14 }),
  lateBy: fc.integer({ min: 1_000, max: 8_000 }),
  amount: fc.option(fc.integer({ min: -100, max: 1000 }), { freq: 5 }),
  n: fc.option(fc.integer({ min: -50, max: 50 }), { freq: 5 }),
  keep: fc.integer({ min: 0, max: 7 }).map((x) => x !== 0),
  spread: fc.nat(),
})

const roundTo = (x: number, q: number) => Math.round(x / q) * q

function scenarioArb(maxEvents: number): fc.Arbitrary<Scenario> {
  return fc
    .record({
      shape: shapeArb,
      partitions: fc.integer({ min: 1, max: 3 }),
      placement: fc.constantFrom('by key', 'random', 'idle'),
      // A few keys, or up to 300 (the stores' tables grow, shrink and move slots back).
      keys: fc.constantFrom(3, 5, 300),
      // Times and durations in whole multiples of this: events fall on window boundaries.
      quantumMs: fc.constantFrom(1, 1, 10, 100),
      // Around 2026, or across the epoch (negative times: floor, not truncation).
      baseMs: fc.constantFrom(Date.UTC(2026, 0, 1), -6_000),
      raw: fc.array(rawEventArb, { minLength: 1, maxLength: maxEvents, size: 'max' }),
      variant: fc.constantFrom<Variant>('single', 'fan-out', 'chain'),
      second: shapeArb,
    })
    .map(({ shape, partitions, placement, keys, quantumMs: q, baseMs, raw, variant, second }) => {
      const sizeMs = Math.max(q, roundTo(shape.sizeMs, q))
      const slideMs =
        shape.kind === 'tumbling' ? sizeMs : Math.min(sizeMs, Math.max(q, roundTo(shape.slideMs, q)))
      const rounded: Shape = {
        kind: shape.kind,
        sizeMs,
        slideMs,
        latenessMs: roundTo(shape.latenessMs, q),
        delayMs: roundTo(shape.delayMs, q),
      }
      let cursor = baseMs
      const events = raw.map((r, id): Ev => {
        cursor += r.advance
        const ts = roundTo(r.veryLate === 0 ? cursor - r.lateBy : cursor - r.disorder, q)
        const key = r.key % keys
        const byKey = key % partitions
        // Idle: the middle half of the stream all goes to partition 0; the others wait.
        const middle = id >= raw.length / 4 && id < (3 * raw.length) / 4
        const p = placement === 'random' ? r.spread % partitions : placement === 'idle' && middle ? 0 : byKey
        return { id, k: `k${key}`, p, amount: r.amount, n: r.n, keep: r.keep, ts }
      })
      // A window over a window's results: the first has no lateness (E0430 refuses it).
      const first = variant === 'chain' ? { ...rounded, latenessMs: 0 } : rounded
      return { shape: first, partitions, events, variant, second: { ...second, delayMs: rounded.delayMs } }
    })
}

// ---------------------------------------------------------------------------------------------
// References

const keyString = (e: { k: string; p: number }) => JSON.stringify([e.k, e.p])

function refEvents(events: readonly Ev[]): WindowRefEvent[] {
  const column = (e: Ev, c: Column | null | undefined): RefValue => {
    if (c == null) return null
    if (c === 'to_string(n)') return e.n === null ? null : String(e.n)
    return c === 'ts' ? e.ts : e[c]
  }
  return events.map((e) => ({
    time: e.ts,
    key: keyString(e),
    args: AGGREGATES.map(([, , arg]) => column(e, arg)),
    by: AGGREGATES.map(([, , , by]) => column(e, by) as number | null),
    dropped: !e.keep,
  }))
}

/** The chained window's input for the brute force: the first window's emissions (with `where c > 0`). */
function chainedRefEvents(s: Scenario, events: readonly Ev[]): WindowRefEvent[] {
  const first = refEvents(events)
  const emissions = windowEmissions(first, s.shape, FNS)
  const value = (emission: WindowRefResult, field: string | null | undefined) => {
    if (field == null) return null
    return emission.values[AGGREGATES.findIndex(([name]) => name === field)]!
  }
  return chainedEvents(first, s.shape, emissions, (emission) => ({
    key: JSON.stringify((JSON.parse(emission.key) as [string, number])[1]),
    args: CHAINED.map(([, , arg]) => value(emission, arg)),
    by: CHAINED.map(([, , , by]) => value(emission, by) as number | null),
    dropped: (value(emission, 'c') as number) <= 0,
  }))
}

/** A brute-force result of the chained window as the record the sink writes (parsed). */
function chainedRecord(result: WindowRefResult): Record<string, unknown> {
  const record: Record<string, unknown> = { p: JSON.parse(result.key) }
  CHAINED.forEach(([name], i) => {
    const v = result.values[i]!
    record[name] = CHAINED_TIMESTAMPS.has(name) && v !== null ? new Date(v as number).toISOString() : v
  })
  return record
}

const partitionEvents = (s: Scenario, p: number) => s.events.filter((e) => e.p === p)

/** A brute-force result as the record the sink writes (parsed), keys first. */
function refRecord(result: WindowRefResult): Record<string, unknown> {
  const [k, p] = JSON.parse(result.key) as [string, number]
  const record: Record<string, unknown> = { k, p }
  AGGREGATES.forEach(([name], i) => {
    const v = result.values[i]!
    record[name] = TIMESTAMP_FIELDS.has(name) && v !== null ? new Date(v as number).toISOString() : v
  })
  return record
}

function eventJson(e: Ev): string {
  return JSON.stringify({ ...e, ts: new Date(e.ts).toISOString() })
}

/** One output record: its JSON text, key and timestamp. */
interface Out {
  readonly json: string
  readonly key: string | null
  readonly timestamp: number
}

/** Per sink topic, per source partition: the records in order. */
interface Outputs {
  readonly [topic: string]: Out[][]
  /** The first window's results and late events. */
  readonly out: Out[][]
  readonly late: Out[][]
}

const canonical = (json: string) => JSON.stringify(JSON.parse(json))

/** The reference interpreter, one instance per source partition fed its events in arrival order. */
function interpret(
  text: string,
  artifact: LoadedArtifact,
  s: Scenario,
  errors: DeadLetter[][] = [],
): Outputs {
  const { pipeline } = checkSource('window.pipe', text)
  if (!pipeline) throw new Error('the pipeline does not check')
  const decoder = artifact.operators.sources.evs!
  const result: Record<string, Out[][]> = Object.fromEntries(
    topicsOf(s.variant).map((topic) => [topic, Array.from({ length: s.partitions }, (): Out[] => [])]),
  )
  for (let p = 0; p < s.partitions; p++) {
    const failures: DeadLetter[] = []
    errors.push(failures)
    const interpreter = createInterpreter(pipeline, {
      functions: stdlib,
      onSink: ({ sinkId, value, key, timestamp }) => {
        const sink = pipeline.nodes.find((n) => n.id === sinkId)
        const topic = sink?.kind === 'Sink' && sink.connector.kind === 'kafka' ? sink.connector.topic : ''
        const encode = artifact.operators.sinks[sinkId]!.encode as (v: unknown) => string
        result[topic]![p]!.push({ json: canonical(encode(value)), key, timestamp })
      },
      onError: (failure) => {
        failures.push({ id: (failure.event.value as unknown as Ev).id, reason: failure.error.message })
      },
    })
    for (const e of partitionEvents(s, p)) {
      const value = decoder.decode(JSON.parse(eventJson(e))) as never
      const timestamp = decoder.eventTime ? decoder.eventTime(value) : 0
      interpreter.push('evs', { value, key: e.k, timestamp })
    }
  }
  return result as Outputs
}

// ---------------------------------------------------------------------------------------------
// The runner

const dirs: string[] = []
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
})

const artifacts = new Map<string, Promise<LoadedArtifact>>()

/** Compiles (once per text and execution) and loads the artifact. */
function artifactFor(text: string, execution: 'wasm' | 'typescript'): Promise<LoadedArtifact> {
  const id = `${execution}\n${text}`
  let loaded = artifacts.get(id)
  if (loaded === undefined) {
    loaded = (async () => {
      const result = compileSource('window.pipe', text, {
        name: 'window-property',
        windowExecution: execution,
      })
      if (!result.artifact) {
        throw new Error(
          `does not compile:\n${result.diagnostics.map((d) => `${d.code} ${d.message}`).join('\n')}`,
        )
      }
      const dir = await mkdtemp(join(tmpdir(), 'sluice-window-artifact-'))
      dirs.push(dir)
      await writeArtifact(result.artifact, join(dir, 'a'))
      const artifact = await loadArtifact(join(dir, 'a'))
      const windows = artifact.manifest.graph.nodes.filter((n) => n.kind === 'WindowAggregate')
      // Sessions and count windows run on typed arrays whatever was asked.
      const typedArraysOnly = (w: (typeof windows)[number]) =>
        w.window.kind === 'session' || w.window.kind === 'count'
      for (const w of windows) expect(w.execution).toBe(typedArraysOnly(w) ? 'typescript' : execution)
      return artifact
    })()
    artifacts.set(id, loaded)
  }
  return loaded
}

class InjectedCrash extends Error {}

function withTimeout<T>(promise: Promise<T>, what: string, ms = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hung: ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Fails the handler call or checkpoint prepare whose number is next in `crashes`. */
class CrashingLog extends ForwardingLog {
  private count = 0
  constructor(
    inner: Log,
    private readonly crashes: number[],
    /** Called before each batch is handled. */
    private readonly onBatch: () => void = () => {},
  ) {
    super(inner)
  }

  private tick(where: string): void {
    this.count++
    if (this.crashes.length > 0 && this.count >= this.crashes[0]!) {
      this.crashes.shift()
      throw new InjectedCrash(`injected crash at operation ${this.count} (${where})`)
    }
  }

  override subscribe(
    options: SubscribeOptions,
    handler: (batch: RecordBatch) => Promise<void>,
  ): Promise<Subscription> {
    const checkpoint = options.checkpoint && {
      ...options.checkpoint,
      prepare: async (topic: string, partition: number) => {
        this.tick('prepare')
        return options.checkpoint!.prepare(topic, partition)
      },
    }
    return super.subscribe({ ...options, ...(checkpoint ? { checkpoint } : {}) }, async (batch) => {
      this.tick('handler')
      this.onBatch()
      return handler(batch)
    })
  }
}

interface RunOptions {
  readonly maxBatchRecords: number
  /** Operation numbers (handler calls and checkpoint prepares) at which the runner crashes. */
  readonly crashes: readonly number[]
  /** Batch numbers (counted over all lives) before which the runner is stopped gracefully. */
  readonly stops?: readonly number[]
  /** Dead letters are expected (else the run fails on any). */
  readonly deadLetters?: boolean
  /** Default exactly-once. */
  readonly delivery?: 'exactly-once' | 'at-least-once'
}

/** A dead letter: the id of the source event it carries, and why. */
interface DeadLetter {
  readonly id: number
  readonly reason: string
}

/**
 * Appends the events to a fresh log, runs the artifact until caught up under exactly-once,
 * restarting (new log handle, store and runner on the same directories) after each crash, and
 * returns the committed output per source partition.
 */
async function runRunner(
  artifact: LoadedArtifact,
  s: Scenario,
  options: RunOptions,
): Promise<{ outputs: Outputs; deadLetters: DeadLetter[][]; lives: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-window-property-'))
  dirs.push(dir)
  const first = await EmbeddedLog.open(dir, { durability: 'none' })
  await first.ensureTopic('in', { partitions: s.partitions })
  // One partition for each output: each source partition's records keep their order in it.
  for (const topic of topicsOf(s.variant)) await first.ensureTopic(topic, { partitions: 1 })
  await first.append(
    'in',
    s.events.map((e) => ({ key: e.k, value: Buffer.from(eventJson(e)), partition: e.p })),
  )
  await first.close()
  const crashes = [...options.crashes].sort((a, b) => a - b)
  try {
    const stops = new Set(options.stops ?? [])
    let batches = 0
    const maxLives = options.crashes.length + stops.size + 1
    for (let life = 1; ; life++) {
      if (life > maxLives) throw new Error('more lives than crashes and stops')
      const log = await EmbeddedLog.open(dir, { durability: 'none' })
      const store = new FileSnapshotStore(join(dir, 'state'), { fsync: false })
      // A graceful stop asked for mid-stream, from outside the handler (stop waits for it).
      let stopping: 'no' | 'asked' | 'stopped' = 'no'
      let started: PipelineRunner | undefined
      const stopSoon = () => {
        if (stopping !== 'asked' || started === undefined) return
        stopping = 'stopped'
        setImmediate(() => void started!.stop())
      }
      try {
        const runner = await withTimeout(
          PipelineRunner.start({
            log: new CrashingLog(log, crashes, () => {
              batches++
              if (stopping === 'no' && stops.delete(batches)) {
                stopping = 'asked'
                stopSoon()
              }
            }),
            artifact,
            metrics: new MetricsRegistry(),
            delivery: options.delivery ?? 'exactly-once',
            checkpointIntervalMs: 1,
            maxBatchRecords: options.maxBatchRecords,
            stateStore: store,
          }),
          `starting the runner of life ${life}`,
        )
        started = runner
        stopSoon()
        const outcome = await Promise.race([
          runner.waitUntilCaughtUp(20_000).then(() => 'caught up' as const),
          runner.done.then(
            () => 'ended' as const,
            (error: unknown) => {
              if (error instanceof InjectedCrash) return 'crashed' as const
              throw error
            },
          ),
        ])
        await withTimeout(runner.stop(), `stopping the runner of life ${life}`)
        if (outcome === 'caught up') {
          const toOut = (r: { value: Buffer; key: string | null; timestamp: number }): Out => ({
            json: canonical(r.value.toString()),
            key: r.key,
            timestamp: r.timestamp,
          })
          const dead = await log.partitions(DEFAULT_DEAD_LETTER_TOPIC).then(
            () => readTopic(log, DEFAULT_DEAD_LETTER_TOPIC),
            () => [],
          )
          if (!options.deadLetters)
            expect(
              dead.map((d) => d.headers),
              'dead letters',
            ).toEqual([])
          const deadLetters = Array.from({ length: s.partitions }, (_, p) =>
            dead
              .filter((d) => d.headers[DEAD_LETTER_HEADERS.partition] === String(p))
              .map(
                (d): DeadLetter => ({
                  id: (JSON.parse(d.value.toString()) as Ev).id,
                  reason: d.headers[DEAD_LETTER_HEADERS.reason]!,
                }),
              ),
          )
          const byPartition = (records: Out[]) =>
            Array.from({ length: s.partitions }, (_, p) =>
              records.filter((r) => (JSON.parse(r.json) as { p: number }).p === p),
            )
          const outputs: Record<string, Out[][]> = {}
          for (const topic of topicsOf(s.variant))
            outputs[topic] = byPartition((await readTopic(log, topic)).map(toOut))
          return { outputs: outputs as Outputs, deadLetters, lives: life }
        }
        if (outcome === 'ended' && stopping === 'no') throw new Error('the runner ended by itself')
      } finally {
        await withTimeout(log.close(), `closing the log of life ${life}`)
        await store.close()
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** A scenario's count window shape as the brute force takes it. */
const countShape = (s: Scenario) => ({
  size: s.shape.sizeMs,
  slide: s.shape.slideMs,
  delayMs: s.shape.delayMs,
})

/**
 * (b): the last emission of each (key, window) and the late events, against the brute force
 * (count windows: every emission, keys and timestamps too; they are never updated); for a chain,
 * every emission of the second window too (it never updates: its input is never late).
 */
function expectBruteForce(s: Scenario, outputs: Outputs): void {
  if (s.shape.kind === 'count') {
    for (let p = 0; p < s.partitions; p++) {
      const events = partitionEvents(s, p)
      const { emissions, late } = countWindowEmissions(refEvents(events), countShape(s), FNS)
      expect(
        outputs.out[p]!.map((o) => JSON.parse(o.json)),
        `count windows of partition ${p}`,
      ).toEqual(emissions.map(refRecord))
      expect(outputs.out[p]!.map((o) => [o.key, o.timestamp])).toEqual(
        emissions.map((e) => [e.key, e.end - 1]),
      )
      expect(
        outputs.late[p]!.map((o) => (JSON.parse(o.json) as { id: number }).id),
        `late events of partition ${p}`,
      ).toEqual(late.map((i) => events[i]!.id))
    }
    return
  }
  for (let p = 0; p < s.partitions; p++) {
    const events = partitionEvents(s, p)
    if (s.variant === 'chain') {
      const chained = chainedRefEvents(s, events)
      const emissions = windowEmissions(
        chained,
        s.second,
        CHAINED.map(([, fn]) => fn),
      )
      expect(
        outputs.out2![p]!.map((o) => JSON.parse(o.json)),
        `the chained window's emissions of partition ${p}`,
      ).toEqual(emissions.map(chainedRecord))
      expect(outputs.out2![p]!.map((o) => [o.key, o.timestamp])).toEqual(
        emissions.map((e) => [e.key, e.end - 1]),
      )
      expect(outputs.late2![p], `the chained window's late events of partition ${p}`).toEqual([])
    }
    const expected = finalWindowResults(refEvents(events), s.shape, FNS)
    const last = new Map<string, Record<string, unknown>>()
    for (const o of outputs.out[p]!) {
      const record = JSON.parse(o.json) as Record<string, unknown>
      // Early results (window_final() false) are not final values.
      if (record.final === true) last.set(`${String(record.start)}|${o.key}`, record)
    }
    const actual = [...last.values()].sort(
      (a, b) =>
        Date.parse(a.start as string) - Date.parse(b.start as string) ||
        (keyString(a as never) < keyString(b as never) ? -1 : 1),
    )
    expect(actual, `final window results of partition ${p}`).toEqual(expected.results.map(refRecord))
    expect(
      outputs.late[p]!.map((o) => (JSON.parse(o.json) as { id: number }).id),
      `late events of partition ${p}`,
    ).toEqual(expected.late.map((i) => events[i]!.id))
  }
}

const runs = (n: number) => ({
  numRuns: Number(process.env.SLUICE_PROPERTY_RUNS ?? n),
  endOnFailure: true,
  // To replay a failure: SLUICE_PROPERTY_SEED=<seed> SLUICE_PROPERTY_PATH=<path>.
  ...(process.env.SLUICE_PROPERTY_SEED ? { seed: Number(process.env.SLUICE_PROPERTY_SEED) } : {}),
  ...(process.env.SLUICE_PROPERTY_PATH ? { path: process.env.SLUICE_PROPERTY_PATH } : {}),
})

/** Count windows: up to 8 events, fired every 1 … size events (tumbling about a third of the time). */
function countScenarioArb(maxEvents: number): fc.Arbitrary<Scenario> {
  return fc
    .tuple(
      scenarioArb(maxEvents),
      fc.integer({ min: 1, max: 8 }),
      fc.integer({ min: 1, max: 8 }),
      fc.boolean(),
    )
    .map(([s, size, every, tumbling]) => ({
      ...s,
      shape: {
        ...s.shape,
        kind: 'count' as const,
        sizeMs: size,
        slideMs: tumbling ? size : Math.min(size, every),
        latenessMs: 0,
      },
    }))
}

/**
 * Time windows with early results: `emit every P` (P shorter than the window, sometimes a few ms)
 * or, with `update`, also `emit on update`.
 */
function emitScenarioArb(maxEvents: number, update: boolean): fc.Arbitrary<Scenario> {
  return (
    fc
      .tuple(scenarioArb(maxEvents), fc.integer({ min: 1, max: 1000 }), fc.boolean())
      .map(([s, share, onUpdate]) => {
        const everyMs = Math.max(1, Math.floor(((s.shape.sizeMs - 1) * share) / 1000))
        const emit: WindowRefEmit =
          update && onUpdate
            ? { kind: 'update' }
            : { kind: 'every', everyMs: Math.min(everyMs, s.shape.sizeMs - 1) }
        return { ...s, shape: { ...s.shape, emit } }
      })
      .filter((s) => s.shape.emit?.kind === 'update' || s.shape.sizeMs > 1)
      // A window over a window with early results is refused (E0430): its early results would be
      // counted again downstream.
      .filter((s) => s.variant !== 'chain')
  )
}

const batchArb = fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 64 }))
/** Crash points as fractions of the run's handler calls (about events / batch), so most are reached. */
const crashesArb = fc.array(fc.integer({ min: 0, max: 999 }), { maxLength: 3 })
const crashPoints = (s: Scenario, maxBatchRecords: number, fractions: readonly number[]) =>
  fractions.map((f) => 1 + Math.floor(((f / 1000) * s.events.length) / maxBatchRecords))

/**
 * The runner's output (random scenarios, batch sizes, crashes and graceful stops under
 * exactly-once) equals the reference interpreter's on every sink topic and partition, and with
 * `bruteForce` the brute-force reference's final values and late events too.
 */
async function expectRunnerAsInterpreter(
  scenarios: fc.Arbitrary<Scenario>,
  execution: 'wasm' | 'typescript',
  bruteForce: boolean,
): Promise<void> {
  let restarts = 0
  const options = runs(30)
  await fc.assert(
    fc.asyncProperty(
      scenarios,
      batchArb,
      crashesArb,
      crashesArb,
      async (s, maxBatchRecords, crashes, stops) => {
        const text = pipeText(s)
        const artifact = await artifactFor(text, execution)
        const { outputs, lives } = await runRunner(artifact, s, {
          maxBatchRecords,
          crashes: crashPoints(s, maxBatchRecords, crashes),
          stops: crashPoints(s, maxBatchRecords, stops),
        })
        restarts += lives - 1
        const errors: DeadLetter[][] = []
        const expected = interpret(text, artifact, s, errors)
        expect(errors.flat()).toEqual([])
        for (const topic of topicsOf(s.variant)) {
          for (let p = 0; p < s.partitions; p++) {
            expect(outputs[topic]![p], `${topic} of partition ${p} (${s.variant})`).toEqual(
              expected[topic]![p],
            )
          }
        }
        if (bruteForce) expectBruteForce(s, outputs)
      },
    ),
    options,
  )
  // Restarts are covered, not just generated.
  if (options.numRuns >= 10) expect(restarts).toBeGreaterThan(options.numRuns / 3)
}

describe('windowed aggregates (property)', () => {
  it('the reference interpreter emits what the brute-force rules say, updates included', async () => {
    const seen = { updates: 0, late: 0, results: 0, runs: 0, withLateness: 0, chained: 0 }
    const options = runs(60)
    await fc.assert(
      fc.asyncProperty(scenarioArb(300), async (s) => {
        seen.runs++
        if (s.shape.latenessMs > 0) seen.withLateness++
        const text = pipeText(s)
        const errors: DeadLetter[][] = []
        const interpreted = interpret(text, await artifactFor(text, 'typescript'), s, errors)
        expect(errors.flat()).toEqual([])
        for (let p = 0; p < s.partitions; p++) {
          const events = partitionEvents(s, p)
          const emissions = windowEmissions(refEvents(events), s.shape, FNS, s.shape.emit)
          expect(
            interpreted.out[p]!.map((o) => JSON.parse(o.json)),
            `emissions of partition ${p}`,
          ).toEqual(emissions.map(refRecord))
          expect(interpreted.out[p]!.map((o) => [o.key, o.timestamp])).toEqual(
            emissions.map((e) => [e.key, e.end - 1]),
          )
          const outcome = finalWindowResults(refEvents(events), s.shape, FNS)
          seen.results += outcome.results.length
          seen.updates += emissions.length - outcome.results.length
          seen.late += outcome.late.length
          if (s.variant === 'chain') seen.chained += interpreted.out2![p]!.length
        }
        expectBruteForce(s, interpreted)
      }),
      options,
    )
    // The streams reach the interesting cases: updates of fired windows and late events.
    console.info('window property coverage', seen)
    if (seen.runs >= 20) {
      // Only windows with lateness update (a chain's first window has none).
      expect(seen.updates).toBeGreaterThan(seen.withLateness)
      expect(seen.late).toBeGreaterThan(seen.runs)
      expect(seen.chained).toBeGreaterThan(seen.runs)
    }
  }, 600_000)

  for (const execution of ['wasm', 'typescript'] as const) {
    it(`the runner (${execution} windows, random batches, crashes and stops) emits exactly what the interpreter does`, async () => {
      await expectRunnerAsInterpreter(scenarioArb(300), execution, true)
    }, 600_000)
  }

  it('session windows: the runner (random batches, crashes and stops) emits exactly what the interpreter does', async () => {
    // Sessions merge: the brute force of final values does not model them (a session gone for
    // good cannot merge with a later event, so final sessions depend on arrival), the interpreter's
    // event-by-event rules are the reference.
    // A chain's second window is a session too: sessions over sessions' results.
    const sessions = scenarioArb(300).map(
      (s): Scenario => ({
        ...s,
        shape: { ...s.shape, kind: 'session', slideMs: s.shape.sizeMs },
        second: s.variant === 'chain' ? { ...s.second, kind: 'session', slideMs: s.second.sizeMs } : s.second,
      }),
    )
    await expectRunnerAsInterpreter(sessions, 'typescript', false)
  }, 600_000)

  it('early results: the reference interpreter emits what the brute-force rules say', async () => {
    const seen = { early: 0, runs: 0 }
    await fc.assert(
      fc.asyncProperty(emitScenarioArb(300, true), async (s) => {
        seen.runs++
        const text = pipeText(s)
        const errors: DeadLetter[][] = []
        const interpreted = interpret(text, await artifactFor(text, 'typescript'), s, errors)
        expect(errors.flat()).toEqual([])
        for (let p = 0; p < s.partitions; p++) {
          const emissions = windowEmissions(refEvents(partitionEvents(s, p)), s.shape, FNS, s.shape.emit)
          expect(
            interpreted.out[p]!.map((o) => JSON.parse(o.json)),
            `emissions of partition ${p}`,
          ).toEqual(emissions.map(refRecord))
          seen.early += emissions.filter((e) => e.values[FNS.indexOf('window_final')] === false).length
        }
        expectBruteForce(s, interpreted)
      }),
      runs(60),
    )
    console.info('early result property coverage', seen)
    if (seen.runs >= 20) expect(seen.early).toBeGreaterThan(seen.runs)
  }, 600_000)

  it('early results (emit every, emit on update): the runner on the WebAssembly kernel emits exactly what the interpreter does', async () => {
    await expectRunnerAsInterpreter(emitScenarioArb(300, true), 'wasm', true)
  }, 600_000)

  it('early results (emit every, emit on update): the runner on the TypeScript store emits exactly what the interpreter does', async () => {
    await expectRunnerAsInterpreter(emitScenarioArb(300, true), 'typescript', true)
  }, 600_000)

  it('count windows: the reference interpreter emits what the brute-force enumeration says', async () => {
    const seen = { results: 0, late: 0, runs: 0 }
    await fc.assert(
      fc.asyncProperty(countScenarioArb(300), async (s) => {
        seen.runs++
        const text = pipeText(s)
        const errors: DeadLetter[][] = []
        const interpreted = interpret(text, await artifactFor(text, 'typescript'), s, errors)
        expect(errors.flat()).toEqual([])
        expectBruteForce(s, interpreted)
        for (let p = 0; p < s.partitions; p++) {
          const outcome = countWindowEmissions(refEvents(partitionEvents(s, p)), countShape(s), FNS)
          seen.results += outcome.emissions.length
          seen.late += outcome.late.length
        }
      }),
      runs(60),
    )
    console.info('count window property coverage', seen)
    if (seen.runs >= 20) {
      expect(seen.results).toBeGreaterThan(seen.runs)
      expect(seen.late).toBeGreaterThan(seen.runs)
    }
  }, 600_000)

  it('count windows: the runner (random batches, crashes and stops) emits exactly what the interpreter and the brute force do', async () => {
    // Asked for the kernel: the count window runs on typed arrays, a fan-out time window on the kernel.
    await expectRunnerAsInterpreter(countScenarioArb(300), 'wasm', true)
  }, 600_000)

  it('does not depend on batch cuts or restarts, and a partition does not depend on the others', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb(200), crashesArb, async (s, crashes) => {
        const artifact = await artifactFor(pipeText(s), 'wasm')
        const whole = await runRunner(artifact, s, { maxBatchRecords: 1000, crashes: [] })
        const cut = await runRunner(artifact, s, { maxBatchRecords: 1, crashes: crashPoints(s, 1, crashes) })
        expect(cut.outputs).toEqual(whole.outputs)
        // The first partition alone: the others idle throughout, its output is the same.
        const alone = await runRunner(
          artifact,
          { ...s, events: s.events.filter((e) => e.p === 0) },
          { maxBatchRecords: 7, crashes: [] },
        )
        for (const topic of topicsOf(s.variant)) {
          expect(alone.outputs[topic]![0], topic).toEqual(whole.outputs[topic]![0])
        }
      }),
      runs(10),
    )
  }, 600_000)

  it('fails a result whose i64 sum overflows, as the interpreter does: same dead letters, same output', async () => {
    let failed = 0
    await fc.assert(
      fc.asyncProperty(scenarioArb(150), batchArb, async (scenario, maxBatchRecords) => {
        // Two of these overflow an i64 sum (|sum| > 2^53 - 1). A result fired by the watermark of
        // an event the `where` drops names that event (runtime/window/window-failure-origin.test.ts).
        const s = {
          ...scenario,
          events: scenario.events.map((e) => ({ ...e, n: e.n === null ? null : e.n * 2 ** 47 })),
        }
        const text = pipeText(s)
        const artifact = await artifactFor(text, 'wasm')
        const { outputs, deadLetters } = await runRunner(artifact, s, {
          maxBatchRecords,
          crashes: [],
          deadLetters: true,
        })
        const errors: DeadLetter[][] = []
        const expected = interpret(text, artifact, s, errors)
        for (const topic of topicsOf(s.variant)) {
          for (let p = 0; p < s.partitions; p++) {
            expect(outputs[topic]![p], `${topic} of partition ${p}`).toEqual(expected[topic]![p])
          }
        }
        for (let p = 0; p < s.partitions; p++) {
          failed += errors[p]!.length
          expect(
            deadLetters[p]!.map((d) => d.id),
            `the source events of the dead letters of partition ${p}`,
          ).toEqual(errors[p]!.map((e) => e.id))
          for (const d of deadLetters[p]!) expect(d.reason).toMatch(/i64 overflow in sum `isum`/)
        }
      }),
      runs(20),
    )
    expect(failed).toBeGreaterThan(0)
  }, 600_000)

  it('keeps its results through checkpoints that compact the key dictionary (thousands of keys)', async () => {
    // More than 4096 keys ever seen and few live: a snapshot renumbers the keys (WindowOperator.snapshot).
    const compactions = vi.spyOn(
      WindowOperator.prototype as unknown as { restoreRows(): void },
      'restoreRows',
    )
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          count: fc.integer({ min: 5_000, max: 7_000 }),
          disorder: fc.integer({ min: 0, max: 40 }),
          seed: fc.nat(),
          execution: fc.constantFrom<'wasm' | 'typescript'>('wasm', 'typescript'),
          maxBatchRecords: fc.integer({ min: 100, max: 1_500 }),
          crashes: crashesArb,
        }),
        async ({ count, disorder, seed, execution, maxBatchRecords, crashes }) => {
          const rand = (i: number) => Math.abs(Math.imul(i + 1, 0x9e3779b1) ^ seed) % (disorder + 1)
          const s: Scenario = {
            shape: { kind: 'tumbling', sizeMs: 20, slideMs: 20, latenessMs: 10, delayMs: 5 },
            second: { kind: 'hopping', sizeMs: 40, slideMs: 10, latenessMs: 0, delayMs: 5 },
            variant: 'single',
            partitions: 1,
            events: Array.from(
              { length: count },
              (_, id): Ev => ({
                id,
                // A new key every event, some repeated a little later.
                k: `key-${id % 7 === 0 ? id - 7 * (id % 3) : id}`,
                p: 0,
                amount: id % 5,
                n: id % 11 === 0 ? null : id % 13,
                keep: id % 17 !== 0,
                ts: Date.UTC(2026, 0, 1) + id * 2 - rand(id),
              }),
            ),
          }
          const text = pipeText(s)
          const artifact = await artifactFor(text, execution)
          const { outputs } = await runRunner(artifact, s, {
            maxBatchRecords,
            crashes: crashPoints(s, maxBatchRecords, crashes),
          })
          const expected = interpret(text, artifact, s)
          expect(outputs.out[0]!.length).toBe(expected.out[0]!.length)
          expect(outputs.out[0]).toEqual(expected.out[0])
          expect(outputs.late[0]).toEqual(expected.late[0])
        },
      ),
      runs(4),
    )
    expect(compactions).toHaveBeenCalled()
    compactions.mockRestore()
  }, 600_000)

  it("at-least-once with crashes: the output less replayed duplicates is the interpreter's", async () => {
    let crashed = 0
    const options = runs(15)
    await fc.assert(
      fc.asyncProperty(scenarioArb(200), batchArb, crashesArb, async (s, maxBatchRecords, crashes) => {
        const text = pipeText(s)
        const artifact = await artifactFor(text, 'wasm')
        const { outputs, lives } = await runRunner(artifact, s, {
          maxBatchRecords,
          crashes: crashPoints(s, maxBatchRecords, crashes),
          delivery: 'at-least-once',
        })
        crashed += lives - 1
        const expected = interpret(text, artifact, s)
        // Every emission of a window differs from its others (its count grows), and every late
        // event is one source record: a record seen before is a replay.
        const firstSeen = (records: Out[]) => {
          const seen = new Set<string>()
          return records.filter((r) => !seen.has(r.json) && seen.add(r.json) !== undefined)
        }
        for (const topic of topicsOf(s.variant)) {
          for (let p = 0; p < s.partitions; p++) {
            expect(firstSeen(outputs[topic]![p]!), `${topic} of partition ${p}`).toEqual(expected[topic]![p])
          }
        }
      }),
      options,
    )
    if (options.numRuns >= 10) expect(crashed).toBeGreaterThan(options.numRuns / 6)
  }, 600_000)
})
