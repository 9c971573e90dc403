/**
 * Keyed JSON events of several topics, as the runner properties over co-partitioned topics (joins
 * over joins, windows over joins) feed them: to the runner as each topic's records (the crash-run
 * fixture's `inputs`), and to the reference interpreter the way the runner sees them, one
 * interpreter per source partition, each topic's events of that partition in order, topic after
 * topic, decoded as the artifact's sources decode the same JSON.
 */
import { checkSource } from '../../compiler/frontend.ts'
import { createInterpreter, type InterpreterOptions } from '../../compiler/ir/interpret.ts'
import type { LoadedArtifact } from '../../runtime/artifact/load.ts'
import type { OutgoingRecord } from '../../runtime/log/index.ts'
import { partitionForKey } from '../../runtime/log/partitioner.ts'
import { stdlib } from '../../stdlib/index.ts'

/** An event of one topic, keyed (so partitioned) by `k`, at event time `ts`. */
export interface TopicEvent<T extends string> {
  readonly topic: T
  readonly k: string
  readonly ts: number
}

/** Each topic's events as keyed records of `json(event)`, in the events' order. */
export function recordsByTopic<T extends string, E extends TopicEvent<T>>(
  topics: readonly T[],
  events: readonly E[],
  json: (event: E) => string,
): Record<string, OutgoingRecord[]> {
  return Object.fromEntries(
    topics.map((topic) => [
      topic,
      events.filter((e) => e.topic === topic).map((e) => ({ key: e.k, value: Buffer.from(json(e)) })),
    ]),
  )
}

/**
 * Runs the reference interpreter of `text` (named `file` in check errors) over the events, one
 * instance per partition, pushing `topics` in that order; a sink's output goes to `onSink`, an
 * evaluation error is thrown.
 */
export function interpretByPartition<T extends string, E extends TopicEvent<T>>(options: {
  readonly file: string
  readonly text: string
  readonly artifact: LoadedArtifact
  readonly partitions: number
  readonly topics: readonly T[]
  readonly events: readonly E[]
  readonly json: (event: E) => string
  readonly onSink: InterpreterOptions['onSink']
}): void {
  const { pipeline } = checkSource(options.file, options.text)
  if (!pipeline) throw new Error('the pipeline does not check')
  for (let p = 0; p < options.partitions; p++) {
    const interpreter = createInterpreter(pipeline, {
      functions: stdlib,
      onSink: options.onSink,
      onError: (failure) => {
        throw failure.error
      },
    })
    for (const topic of options.topics) {
      const decoder = options.artifact.operators.sources[topic]!
      const own = options.events.filter(
        (e) => e.topic === topic && partitionForKey(e.k, options.partitions) === p,
      )
      for (const e of own) {
        interpreter.push(topic, {
          value: decoder.decode(JSON.parse(options.json(e))) as never,
          key: e.k,
          timestamp: e.ts,
        })
      }
    }
  }
}

/** One generated event before timing: its topic, key, clock step and how far behind it lies. */
export interface LaneStep<T extends string> {
  readonly topic: T
  readonly k: string
  /** How far the event's lane clock moves forward at it (ms). */
  readonly step: number
  /** How far behind its lane clock the event lies, in units of its topic's watermark delay. */
  readonly behind: number
}

/**
 * Timed events from generated steps, numbered in order: per lane (a topic and the partition of a
 * key) a clock starts at `start` + 10 s and moves forward by each event's `step`, and the event
 * lies `behind` × its topic's delay behind it. So each lane is out of order by at most that much:
 * never late at its own source while `behind` < 1, late beyond.
 */
export function laneClockedEvents<T extends string>(
  steps: readonly LaneStep<T>[],
  lanes: {
    readonly partitions: number
    readonly start: number
    readonly delayMs: Readonly<Record<T, number>>
  },
): (TopicEvent<T> & { readonly id: number })[] {
  const clock = new Map<string, number>()
  return steps.map(({ topic, k, step, behind }, id) => {
    const lane = `${topic}/${partitionForKey(k, lanes.partitions)}`
    const now = (clock.get(lane) ?? lanes.start + 10_000) + step
    clock.set(lane, now)
    return { topic, id, k, ts: now - Math.floor(behind * lanes.delayMs[topic]) }
  })
}
