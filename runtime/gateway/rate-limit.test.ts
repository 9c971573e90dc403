import { describe, expect, it } from 'vitest'
import { RateLimiter, validateLimits } from './rate-limit.ts'

describe('RateLimiter', () => {
  it('refills at the rate up to the burst, and says how long until a request fits', () => {
    let now = 0
    const limiter = new RateLimiter({ stream: { eventsPerSecond: 10, burst: 20 } }, () => now)
    expect(limiter.take('', 's', 20)).toEqual({ allowed: true })
    expect(limiter.take('', 's', 5)).toMatchObject({ allowed: false, scope: 'stream', retryAfterMs: 500 })
    now = 500
    expect(limiter.take('', 's', 5)).toEqual({ allowed: true })
    now = 100_000
    expect(limiter.take('', 's', 20)).toEqual({ allowed: true })
    expect(limiter.take('', 's', 1)).toMatchObject({ allowed: false })
  })

  it('refuses a request larger than the burst outright, saying so', () => {
    const limiter = new RateLimiter({ apiKey: { eventsPerSecond: 1, burst: 5 } }, () => 0)
    const decision = limiter.take('k', 's', 6)
    expect(decision).toMatchObject({ allowed: false, scope: 'api-key' })
    expect(decision.allowed === false && decision.message).toMatch(/more than the burst of 5/)
  })

  it('takes from both buckets or from neither', () => {
    const limiter = new RateLimiter(
      {
        apiKey: { eventsPerSecond: 1, burst: 10 },
        stream: { eventsPerSecond: 1, burst: 3 },
        streams: { other: null },
      },
      () => 0,
    )
    expect(limiter.take('k', 's', 4).allowed).toBe(false)
    // The key's bucket kept its tokens: 3 fit the stream, then the key still has 7.
    expect(limiter.take('k', 's', 3).allowed).toBe(true)
    expect(limiter.take('k', 'other', 7).allowed).toBe(true)
    expect(limiter.take('k', 'other', 1)).toMatchObject({ allowed: false, scope: 'api-key' })
  })

  it('applies per-name limits over the defaults, and new limits at once, keeping no more tokens than the new burst', () => {
    const limiter = new RateLimiter(
      {
        apiKey: { eventsPerSecond: 1, burst: 1 },
        apiKeys: { vip: { eventsPerSecond: 100, burst: 100 }, free: null },
      },
      () => 0,
    )
    expect(limiter.take('vip', 's', 50).allowed).toBe(true)
    expect(limiter.take('free', 's', 10_000).allowed).toBe(true)
    expect(limiter.take('anyone', 's', 2).allowed).toBe(false)
    limiter.set({ apiKeys: { vip: { eventsPerSecond: 1, burst: 10 } } })
    expect(limiter.take('vip', 's', 11).allowed).toBe(false)
    expect(limiter.take('vip', 's', 10).allowed).toBe(true)
    expect(limiter.take('anyone', 's', 1_000).allowed).toBe(true)
  })
})

describe('validateLimits', () => {
  it('defaults the burst to one second of the rate and names what is wrong', () => {
    expect(validateLimits({ stream: { eventsPerSecond: 2.5 } })).toEqual({
      apiKey: null,
      stream: { eventsPerSecond: 2.5, burst: 3 },
    })
    expect(() => validateLimits({ streams: { a: { eventsPerSecond: 1, burst: 0 } } })).toThrow(
      /streams\.a\.burst must be an integer of at least 1/,
    )
    expect(() => validateLimits({ stream: { rate: 1 } })).toThrow(/stream: unknown field "rate"/)
    expect(() => validateLimits({ global: {} })).toThrow(/unknown field "global"/)
    expect(() => validateLimits([])).toThrow(/expected a JSON object/)
  })
})
