/**
 * The canonical string of a key-typed value and its 64-bit hash, shared by the distinct-count
 * sketches (hyperloglog.ts, distinct.ts). The canonical string is the one a state key uses
 * (specs/language.md, "Keys and state"): a string as it is, anything else as its JSON (i64,
 * timestamp → the number's digits, bool → `true`/`false`).
 */

export function canonical(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value)
}

const encoder = new TextEncoder()

/**
 * A deterministic 64-bit hash of a string's UTF-8 bytes, as two unsigned 32-bit halves: MurmurHash3
 * (x86, 32-bit) of the bytes under two different seeds. The same on every machine and run.
 */
export function hash64(text: string): { hi: number; lo: number } {
  const bytes = encoder.encode(text)
  return { hi: murmur3(bytes, 0x9747b28c), lo: murmur3(bytes, 0x5bd1e995) }
}

/** MurmurHash3_x86_32 (Austin Appleby, public domain) of `bytes` under `seed`. */
export function murmur3(bytes: Uint8Array, seed: number): number {
  const c1 = 0xcc9e2d51
  const c2 = 0x1b873593
  let h = seed >>> 0
  const n = bytes.length
  const blocks = n & ~3
  for (let i = 0; i < blocks; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)
    k = Math.imul(k, c1)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, c2)
    h ^= k
    h = (h << 13) | (h >>> 19)
    h = (Math.imul(h, 5) + 0xe6546b64) | 0
  }
  let k = 0
  switch (n & 3) {
    // biome-ignore lint/suspicious/noFallthroughSwitchClause: the tail bytes accumulate
    case 3:
      k ^= bytes[blocks + 2]! << 16
    // biome-ignore lint/suspicious/noFallthroughSwitchClause: the tail bytes accumulate
    case 2:
      k ^= bytes[blocks + 1]! << 8
    case 1:
      k ^= bytes[blocks]!
      k = Math.imul(k, c1)
      k = (k << 15) | (k >>> 17)
      k = Math.imul(k, c2)
      h ^= k
  }
  h ^= n
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}
