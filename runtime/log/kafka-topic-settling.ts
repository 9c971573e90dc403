/**
 * Riding out a topic that the broker does not know yet (issues 15/16, Kafka client defects).
 *
 * Right after a topic is created (by this node's ensureTopic, or by another node a moment ago), a
 * broker can still answer UNKNOWN_TOPIC_OR_PARTITION or LEADER_NOT_AVAILABLE while the metadata
 * spreads to it: the topic is there, this broker has not heard yet. An append, read or subscribe
 * in that window is tried again, with back-off and with the topic's metadata fetched anew each
 * time (the log drops its cached partition count; kafkajs refreshes its metadata on these
 * errors), for at most `waitMs`. Only a topic still unknown after that is reported as not
 * existing (LOG_UNKNOWN_TOPIC, final); one still without a leader stays KAFKA_UNAVAILABLE
 * (retryable).
 *
 * Only calls that may be repeated as they are come here: lookups, reads, and the send of the same
 * records under the same producer id (the broker recognises a batch it already wrote by its
 * sequence numbers; kafka-uncertain-batches.ts).
 */
import { SluiceError } from '../errors.ts'

/** Default of KafkaLogOptions.unknownTopicWaitMs. */
export const DEFAULT_UNKNOWN_TOPIC_WAIT_MS = 3000
const FIRST_DELAY_MS = 20
const MAX_DELAY_MS = 500

/** Time as the wait sees it (tests run it on a virtual clock). */
export interface SettlingClock {
  now(): number
  sleep(ms: number): Promise<void>
}

export const REAL_CLOCK: SettlingClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
}

export interface SettlingOptions {
  /** Longest the calls go on failing with a settling error before the last one is thrown. */
  readonly waitMs: number
  /** Called before each wait: the place to forget cached metadata of the topic. */
  readonly onSettling?: (error: unknown) => void
  readonly clock?: SettlingClock
}

/**
 * The error of a broker that does not know the topic or its leader (yet): a kafkajs protocol error
 * UNKNOWN_TOPIC_OR_PARTITION or LEADER_NOT_AVAILABLE anywhere in the cause chain, or the log's
 * LOG_UNKNOWN_TOPIC (a metadata answer without the topic).
 */
export function isTopicSettling(error: unknown): boolean {
  let current: unknown = error
  for (let depth = 0; depth < 6 && current instanceof Error; depth++) {
    if (current instanceof SluiceError && current.code === 'LOG_UNKNOWN_TOPIC') return true
    const type = (current as { type?: unknown }).type
    if (type === 'UNKNOWN_TOPIC_OR_PARTITION' || type === 'LEADER_NOT_AVAILABLE') return true
    current = (current as { cause?: unknown }).cause ?? (current as { originalError?: unknown }).originalError
  }
  return false
}

/**
 * Runs `call` until it succeeds, fails with anything but a settling error, or has failed with
 * settling errors for `waitMs` (then its last error is thrown: it is already mapped to what the
 * caller reports). Waits 20 ms, doubling up to 500 ms, between tries, never past the bound.
 */
export async function untilTopicSettles<T>(call: () => Promise<T>, options: SettlingOptions): Promise<T> {
  const clock = options.clock ?? REAL_CLOCK
  const deadline = clock.now() + options.waitMs
  for (let delay = FIRST_DELAY_MS; ; delay = Math.min(delay * 2, MAX_DELAY_MS)) {
    try {
      return await call()
    } catch (error) {
      const left = deadline - clock.now()
      if (!isTopicSettling(error) || left <= 0) throw error
      options.onSettling?.(error)
      await clock.sleep(Math.min(delay, left))
    }
  }
}
