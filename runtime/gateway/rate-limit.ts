/**
 * Rate limits: token buckets of events, one per API key (`x-api-key`) and one per stream. A request
 * of n events takes n tokens from its key's bucket and its stream's; when either has fewer, the
 * request is refused whole (429) with how long until it would fit. Limits can be replaced while
 * the node runs (`PUT /admin/limits`); buckets then keep their tokens, capped at the new burst.
 */
import { SluiceError } from '../errors.ts'

/** A sustained rate and the burst a bucket holds (its capacity), in events. */
export interface Limit {
  readonly eventsPerSecond: number
  readonly burst: number
}

/**
 * The limits in force. `apiKey` and `stream` apply to every key and stream without an entry of
 * its own in `apiKeys` / `streams`; null (or absent) means no limit. Requests without an API key
 * share the bucket of the key "" (anonymous).
 */
export interface RateLimits {
  readonly apiKey?: Limit | null
  readonly stream?: Limit | null
  readonly apiKeys?: Readonly<Record<string, Limit | null>>
  readonly streams?: Readonly<Record<string, Limit | null>>
}

/** At most this many buckets per kind: beyond it, full buckets (indistinguishable from new ones) go first. */
const MAX_BUCKETS = 10_000

class TokenBucket {
  tokens: number
  updatedMs: number

  constructor(
    public limit: Limit,
    nowMs: number,
  ) {
    this.tokens = limit.burst
    this.updatedMs = nowMs
  }

  refill(nowMs: number): void {
    const elapsed = Math.max(0, nowMs - this.updatedMs) / 1000
    this.tokens = Math.min(this.limit.burst, this.tokens + elapsed * this.limit.eventsPerSecond)
    this.updatedMs = nowMs
  }

  /** Milliseconds until `n` tokens are there (0: now); Infinity when n is above the burst. */
  waitMs(n: number): number {
    if (n > this.limit.burst) return Number.POSITIVE_INFINITY
    if (this.tokens >= n) return 0
    return Math.ceil(((n - this.tokens) / this.limit.eventsPerSecond) * 1000)
  }
}

export type RateDecision =
  | { readonly allowed: true }
  | {
      readonly allowed: false
      readonly retryAfterMs: number
      /** Which bucket refused: the API key's or the stream's. */
      readonly scope: 'api-key' | 'stream'
      readonly message: string
    }

export class RateLimiter {
  private limits: RateLimits = {}
  private readonly keyBuckets = new Map<string, TokenBucket>()
  private readonly streamBuckets = new Map<string, TokenBucket>()

  constructor(
    limits: RateLimits = {},
    private readonly now: () => number = () => performance.now(),
  ) {
    this.set(limits)
  }

  get current(): RateLimits {
    return this.limits
  }

  /** Replaces the limits (validated first: a bad one changes nothing). */
  set(limits: RateLimits): void {
    this.limits = validateLimits(limits)
    this.retune(this.keyBuckets, (key) => this.limitOfKey(key))
    this.retune(this.streamBuckets, (stream) => this.limitOfStream(stream))
  }

  /** Takes `events` tokens from the key's and the stream's buckets, or neither. */
  take(apiKey: string, stream: string, events: number): RateDecision {
    const now = this.now()
    const keyBucket = this.bucket(this.keyBuckets, apiKey, this.limitOfKey(apiKey), now)
    const streamBucket = this.bucket(this.streamBuckets, stream, this.limitOfStream(stream), now)
    for (const [bucket, scope] of [
      [keyBucket, 'api-key'],
      [streamBucket, 'stream'],
    ] as const) {
      if (bucket === null) continue
      const wait = bucket.waitMs(events)
      if (wait === 0) continue
      const who =
        scope === 'api-key'
          ? apiKey === ''
            ? 'requests without an API key'
            : 'this API key'
          : `stream ${stream}`
      if (wait === Number.POSITIVE_INFINITY) {
        return {
          allowed: false,
          scope,
          retryAfterMs: Math.ceil((bucket.limit.burst / bucket.limit.eventsPerSecond) * 1000),
          message: `${events} events in one request is more than the burst of ${bucket.limit.burst} allowed for ${who}: send smaller batches`,
        }
      }
      return {
        allowed: false,
        scope,
        retryAfterMs: wait,
        message: `rate limit of ${bucket.limit.eventsPerSecond} events/s (burst ${bucket.limit.burst}) for ${who} reached`,
      }
    }
    if (keyBucket) keyBucket.tokens -= events
    if (streamBucket) streamBucket.tokens -= events
    return { allowed: true }
  }

  private limitOfKey(key: string): Limit | null {
    const own = this.limits.apiKeys?.[key]
    return own === undefined ? (this.limits.apiKey ?? null) : own
  }

  private limitOfStream(stream: string): Limit | null {
    const own = this.limits.streams?.[stream]
    return own === undefined ? (this.limits.stream ?? null) : own
  }

  private bucket(
    buckets: Map<string, TokenBucket>,
    name: string,
    limit: Limit | null,
    now: number,
  ): TokenBucket | null {
    if (limit === null) return null
    let bucket = buckets.get(name)
    if (bucket === undefined) {
      if (buckets.size >= MAX_BUCKETS) evictFull(buckets, now)
      bucket = new TokenBucket(limit, now)
      buckets.set(name, bucket)
    } else {
      bucket.refill(now)
    }
    return bucket
  }

  private retune(buckets: Map<string, TokenBucket>, limitOf: (name: string) => Limit | null): void {
    const now = this.now()
    for (const [name, bucket] of buckets) {
      const limit = limitOf(name)
      if (limit === null) {
        buckets.delete(name)
        continue
      }
      bucket.refill(now)
      bucket.limit = limit
      bucket.tokens = Math.min(bucket.tokens, limit.burst)
    }
  }
}

function evictFull(buckets: Map<string, TokenBucket>, now: number): void {
  for (const [name, bucket] of buckets) {
    bucket.refill(now)
    if (bucket.tokens >= bucket.limit.burst) buckets.delete(name)
  }
  // Still full of busy buckets: drop the oldest, which then starts full again.
  if (buckets.size >= MAX_BUCKETS) buckets.delete(buckets.keys().next().value!)
}

/** Checks limits from a config file or `PUT /admin/limits`; throws CONFIG_INVALID naming the problem. */
export function validateLimits(value: unknown, where = 'limits'): RateLimits {
  const fail = (problem: string): never => {
    throw new SluiceError('CONFIG_INVALID', `${where}: ${problem}`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return fail('expected a JSON object')
  const known = ['apiKey', 'stream', 'apiKeys', 'streams']
  for (const name of Object.keys(value)) {
    if (!known.includes(name)) fail(`unknown field "${name}" (expected ${known.join(', ')})`)
  }
  const v = value as Record<string, unknown>
  const limit = (x: unknown, path: string): Limit | null => {
    if (x === null || x === undefined) return null
    if (typeof x !== 'object' || Array.isArray(x))
      return fail(`${path} must be {"eventsPerSecond": N, "burst": N} or null`)
    const l = x as Record<string, unknown>
    for (const name of Object.keys(l)) {
      if (name !== 'eventsPerSecond' && name !== 'burst') fail(`${path}: unknown field "${name}"`)
    }
    if (
      typeof l.eventsPerSecond !== 'number' ||
      !(l.eventsPerSecond > 0) ||
      !Number.isFinite(l.eventsPerSecond)
    ) {
      fail(`${path}.eventsPerSecond must be a number above 0, got ${JSON.stringify(l.eventsPerSecond)}`)
    }
    const burst = l.burst ?? Math.max(1, Math.ceil(l.eventsPerSecond as number))
    if (typeof burst !== 'number' || !Number.isInteger(burst) || burst < 1) {
      fail(`${path}.burst must be an integer of at least 1, got ${JSON.stringify(l.burst)}`)
    }
    return { eventsPerSecond: l.eventsPerSecond as number, burst: burst as number }
  }
  const map = (x: unknown, path: string): Record<string, Limit | null> | undefined => {
    if (x === undefined) return undefined
    if (typeof x !== 'object' || x === null || Array.isArray(x))
      return fail(`${path} must be an object of limits by name`)
    return Object.fromEntries(Object.entries(x).map(([name, l]) => [name, limit(l, `${path}.${name}`)]))
  }
  const apiKeys = map(v.apiKeys, 'apiKeys')
  const streams = map(v.streams, 'streams')
  return {
    apiKey: limit(v.apiKey, 'apiKey'),
    stream: limit(v.stream, 'stream'),
    ...(apiKeys ? { apiKeys } : {}),
    ...(streams ? { streams } : {}),
  }
}
