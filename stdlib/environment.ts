/**
 * The clock and the random source of the only non-deterministic functions, `now()` and `uuid()`.
 * Everything else in stdlib is pure. Both the reference interpreter and generated code call the
 * same stdlib impls, so a test that installs a fixed clock and a seeded random source with
 * `withEnvironment` makes the two paths comparable (compiler/ir/nondeterministic.test.ts).
 */
import { randomFillSync } from 'node:crypto'

export interface Environment {
  /** Wall-clock time in epoch milliseconds (UTC). */
  readonly now: () => number
  /** Fills `bytes` with random bytes (cryptographically strong in production). */
  readonly fillRandom: (bytes: Uint8Array) => void
}

const system: Environment = {
  now: Date.now,
  fillRandom: (bytes) => {
    randomFillSync(bytes)
  },
}

let current: Environment = system

export function environment(): Environment {
  return current
}

/**
 * Runs `body` with `env` as the clock and random source, then restores the one before (also when
 * `body` throws). Meant for tests; the runtime never replaces the system environment.
 */
export async function withEnvironment<T>(env: Environment, body: () => T | Promise<T>): Promise<T> {
  const before = current
  current = env
  try {
    return await body()
  } finally {
    current = before
  }
}

/**
 * A deterministic random source for tests: xorshift32 from `seed` (not for production: it is
 * predictable by design).
 */
export function seededRandom(seed: number): (bytes: Uint8Array) => void {
  let state = seed >>> 0 || 1
  return (bytes) => {
    for (let i = 0; i < bytes.length; i++) {
      state ^= state << 13
      state >>>= 0
      state ^= state >>> 17
      state ^= state << 5
      state >>>= 0
      bytes[i] = state & 0xff
    }
  }
}
