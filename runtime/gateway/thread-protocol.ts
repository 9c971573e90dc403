/**
 * The messages between the gateway's worker threads and the thread that owns the log
 * (docs/decisions/0030-gateway-threads.md). Records travel packed: every value of a batch in one
 * transferred buffer (moved, not copied, and one allocation however many events), keys and lengths
 * in flat arrays, and a record's headers as an index into a table, shared by neighbours with equal
 * headers (a request's records usually carry the same ones). Structured clone of one object per
 * event would cost more than the rest of the event's handling. The flat arrays, and the replies,
 * cross as one JSON string: V8 serializes one string faster than many small arrays (about 30% less
 * CPU per event for batches of 10 or more, measured with the round trip of this module).
 */
import type { OutgoingRecord } from '../log/index.ts'
import { AppendResults } from './append-results.ts'
import type { Submission } from './backend.ts'
import type { MetricDeltas } from './gateway-metrics.ts'
import type { FaultPoint } from './handler-guard.ts'
import type { SeenFd } from './loop-sockets.ts'
import type { RateLimits } from './rate-limit.ts'

/** One worker's submissions of one event-loop turn, as it crosses: metadata as JSON, values as bytes. */
export interface SubmitBatch {
  /** JSON of the BatchMeta. */
  readonly meta: string
  /** The records' values, one after the other (the buffer to transfer). */
  readonly values: Uint8Array
}

/** What a batch says of its submissions and records. */
interface BatchMeta {
  /** Per submission: its id, topic, stream, API key and number of records. */
  readonly ids: number[]
  readonly topics: string[]
  readonly streams: string[]
  readonly apiKeys: string[]
  readonly counts: number[]
  /** Per record, in submission order. */
  readonly keys: (string | null)[]
  readonly lengths: number[]
  readonly headerIndexes: number[]
  /** null: a record without headers (JSON has no undefined). */
  readonly headers: (Readonly<Record<string, string>> | null)[]
}

/** A submission's answer: [id, 0, partitions, offsets, refused (index, reason) pairs], rate limited, or failed. */
export type SubmitReply =
  | readonly [id: number, kind: 0, partitions: number[], offsets: number[], refused: [number, string][]]
  | readonly [id: number, kind: 1, message: string, retryAfterMs: number]
  | readonly [id: number, kind: 2, code: string | null, message: string, retryable: boolean]

export type CallOp = 'ready' | 'limits' | 'setLimits' | 'metrics'

export type WorkerMessage =
  /** `poll`: the epoll set of its loop, where its sockets are (loop-sockets.ts); null without the native hook. */
  | { readonly t: 'listening'; readonly poll: SeenFd | null }
  | { readonly t: 'failed'; readonly message: string; readonly code: string | null }
  | { readonly t: 'submit'; readonly batch: SubmitBatch }
  | { readonly t: 'call'; readonly id: number; readonly op: CallOp; readonly arg?: RateLimits }
  | { readonly t: 'metrics'; readonly id: number | null; readonly deltas: MetricDeltas | null }
  | { readonly t: 'abort' }
  | {
      readonly t: 'log'
      readonly level: 'debug' | 'info' | 'warn' | 'error'
      readonly msg: string
      readonly fields?: Record<string, unknown>
    }
  | { readonly t: 'drained' }
  /** The answer to a ping: the worker's event loop turns (WorkerPool's liveness check). */
  | { readonly t: 'pong' }

export type MainMessage =
  /** JSON of the SubmitReply list. */
  | { readonly t: 'results'; readonly replies: string }
  | { readonly t: 'answer'; readonly id: number; readonly ok: boolean; readonly value: unknown }
  | { readonly t: 'flush'; readonly id: number }
  | { readonly t: 'drain'; readonly timeoutMs: number }
  /**
   * Stop serving and end, though busy (WorkerPool.stop): drain for at most `graceMs` (the listen
   * socket closed at once, the requests in hand answered once the log has them), then close every
   * connection and exit. Already draining: close at once.
   */
  | { readonly t: 'stop'; readonly graceMs: number }
  /** A drill (WorkerPool.crashWorker): the worker throws an uncaught error, as a bug would. */
  | { readonly t: 'crash'; readonly message: string }
  /**
   * A drill (WorkerPool.wedgeWorker): the worker's thread stops returning to its event loop, as in
   * a runaway loop; for `forMs` only when given (a long pause), else for good. With `at`, not now
   * but inside the next request handler that reaches that fault point (handler-guard.ts).
   */
  | { readonly t: 'wedge'; readonly forMs?: number; readonly at?: FaultPoint }
  /**
   * A drill (WorkerPool.exhaustWorkerAt): the next request handler that reaches fault point `at`
   * allocates without end, until V8's heap limit ends the thread.
   */
  | { readonly t: 'exhaust'; readonly at: FaultPoint }
  /** Is the worker's event loop turning? Answered with a pong. */
  | { readonly t: 'ping' }

/** The exit code of a worker thread the pool stopped (WorkerPool.stop; a crash exits with 1). */
export const STOPPED_EXIT_CODE = 2

/** A submission as the worker queues it. */
export interface PendingSubmission {
  readonly id: number
  readonly topic: string
  readonly stream: string
  readonly apiKey: string
  readonly records: readonly OutgoingRecord[]
}

/** Packs submissions into one batch; its `values` buffer is the one to transfer. */
export function packSubmissions(submissions: readonly PendingSubmission[]): SubmitBatch {
  let total = 0
  let count = 0
  for (const submission of submissions) {
    count += submission.records.length
    for (const record of submission.records) total += record.value.length
  }
  const values = new Uint8Array(total)
  const batch: BatchMeta = {
    ids: [],
    topics: [],
    streams: [],
    apiKeys: [],
    counts: [],
    keys: new Array(count),
    lengths: new Array(count),
    headerIndexes: new Array(count),
    headers: [],
  }
  let at = 0
  let r = 0
  let previous: Readonly<Record<string, string>> | undefined
  for (const submission of submissions) {
    batch.ids.push(submission.id)
    batch.topics.push(submission.topic)
    batch.streams.push(submission.stream)
    batch.apiKeys.push(submission.apiKey)
    batch.counts.push(submission.records.length)
    for (const record of submission.records) {
      values.set(record.value, at)
      at += record.value.length
      batch.keys[r] = record.key
      batch.lengths[r] = record.value.length
      if (batch.headers.length === 0 || !sameHeaders(previous, record.headers)) {
        batch.headers.push(record.headers ?? null)
        previous = record.headers
      }
      batch.headerIndexes[r] = batch.headers.length - 1
      r++
    }
  }
  return { meta: JSON.stringify(batch), values }
}

/** The submissions of a batch, their values views of its buffer. */
export function unpackSubmissions(packed: SubmitBatch): PendingSubmission[] {
  const batch = JSON.parse(packed.meta) as BatchMeta
  const submissions: PendingSubmission[] = []
  const buffer = Buffer.from(packed.values.buffer, packed.values.byteOffset, packed.values.byteLength)
  let at = 0
  let r = 0
  for (let s = 0; s < batch.ids.length; s++) {
    const records: OutgoingRecord[] = new Array(batch.counts[s]!)
    for (let i = 0; i < records.length; i++, r++) {
      const length = batch.lengths[r]!
      const headers = batch.headers[batch.headerIndexes[r]!]
      const value = buffer.subarray(at, at + length)
      at += length
      records[i] =
        headers === null ? { key: batch.keys[r]!, value } : { key: batch.keys[r]!, value, headers: headers! }
    }
    submissions.push({
      id: batch.ids[s]!,
      topic: batch.topics[s]!,
      stream: batch.streams[s]!,
      apiKey: batch.apiKeys[s]!,
      records,
    })
  }
  return submissions
}

export function replyOf(id: number, submission: Submission): SubmitReply {
  if ('rateLimited' in submission)
    return [id, 1, submission.rateLimited.message, submission.rateLimited.retryAfterMs]
  const { partitions, offsets, refused } = submission.results
  return [id, 0, Array.from(partitions), Array.from(offsets), [...refused]]
}

export function submissionOf(reply: Extract<SubmitReply, { 1: 0 | 1 }>): Submission {
  if (reply[1] === 1) return { rateLimited: { message: reply[2], retryAfterMs: reply[3] } }
  const [, , partitions, offsets, refused] = reply
  return {
    results: new AppendResults(
      Int32Array.from(partitions),
      Float64Array.from(offsets),
      refused.length === 0 ? undefined : new Map(refused),
    ),
  }
}

function sameHeaders(
  a: Readonly<Record<string, string>> | undefined,
  b: Readonly<Record<string, string>> | undefined,
): boolean {
  if (a === b) return true
  if (a === undefined || b === undefined) return false
  let count = 0
  for (const name in a) {
    if (a[name] !== b[name]) return false
    count++
  }
  for (const _ in b) count--
  return count === 0
}
