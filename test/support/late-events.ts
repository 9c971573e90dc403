/**
 * The input of the join properties over one source (same-source joins, joins over a window's
 * results): events of keys a, b and c with amounts 0 to 9, mostly forward in event time with some
 * going back, so that some are late.
 */
import fc from 'fast-check'
import type { Log, OutgoingRecord } from '../../runtime/log/index.ts'
import { DEFAULT_DEAD_LETTER_TOPIC } from '../../runtime/node/pipeline-runner.ts'
import { jsonRecord } from './crash-run.ts'
import { readTopic } from './read-topic.ts'

export interface KeyedEvent {
  readonly id: number
  readonly k: string
  readonly amount: number
  readonly ts: number
}

/** 5 to 50 events, ids in order from 0, the first 10 s after `t0` give or take a step of ±2.5 s. */
export function keyedEventsArb(t0: number): fc.Arbitrary<KeyedEvent[]> {
  return fc
    .array(
      fc.record({
        k: fc.constantFrom('a', 'b', 'c'),
        amount: fc.integer({ min: 0, max: 9 }),
        step: fc.integer({ min: -2500, max: 2500 }),
      }),
      { minLength: 5, maxLength: 50 },
    )
    .map((raw) => {
      let ts = t0 + 10_000
      return raw.map(({ k, amount, step }, id): KeyedEvent => {
        ts += step
        return { id, k, amount, ts }
      })
    })
}

/** An event as its source reads it: keyed by `k`, its time as an ISO-8601 string. */
export function keyedEventRecord(e: KeyedEvent): OutgoingRecord {
  return jsonRecord(e.k, { id: e.id, k: e.k, amount: e.amount, ts: new Date(e.ts).toISOString() })
}

/** The ids of the events the runner dead-lettered as late, ascending. */
export async function lateIds(log: Pick<Log, 'partitions' | 'read'>): Promise<number[]> {
  const late = (await readTopic(log, DEFAULT_DEAD_LETTER_TOPIC)).map(
    (r) => (JSON.parse(r.value.toString()) as { id: number }).id,
  )
  return late.sort((a, b) => a - b)
}
