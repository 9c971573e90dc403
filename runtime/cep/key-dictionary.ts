/**
 * The match step's key dictionary (cep-operator.ts): key string → dense id, looked up once per
 * event (issue 14).
 *
 * Why not a Map: with 100,000 keys a Map lookup cost about 0.5 µs per event end to end, the largest
 * part of the operator's own time (decision 0032, addendum of the session of 2026-12-03 19:55). A
 * V8 Map keeps no hash beside its entries, and its buckets chain about two entries, so a lookup
 * loads the bucket, then per entry of the chain the entry and its key string (the strings are
 * scattered over the heap, as they were decoded), a cache miss each. Here a table of slots in one
 * array holds, per slot, the key's hash, its id and the key (open addressing, linear probing, at
 * most half full): a lookup loads the slot's line, and only a slot whose hash is the key's leads
 * to a string comparison, so a found key costs about two misses (the slot, the stored string)
 * and a new key one.
 *
 * Deletion moves the slots after the deleted one back where their probe allows (no tombstones),
 * so lookups never walk past deleted keys, however many keys come and go.
 */

/** A slot: hash (a small integer, -1 when empty), id, key. */
const STRIDE = 3
const EMPTY = -1
const MIN_SLOTS = 1024

export class KeyDictionary {
  private slots: (number | string)[]
  private mask: number
  private count = 0

  /** `minSlots`: a power of two, MIN_SLOTS by default (tests make it small, so that probes wrap and tables resize). */
  constructor(private readonly minSlots = MIN_SLOTS) {
    this.slots = emptySlots(minSlots)
    this.mask = minSlots - 1
  }

  get size(): number {
    return this.count
  }

  /** The id of `key`, or -1 when it has none. */
  get(key: string): number {
    const hash = hashOf(key)
    const slots = this.slots
    for (let s = hash & this.mask; ; s = (s + 1) & this.mask) {
      const at = s * STRIDE
      const h = slots[at] as number
      if (h === EMPTY) return -1
      if (h === hash && slots[at + 2] === key) return slots[at + 1] as number
    }
  }

  /** Gives `key` (which has no id) the id `id`. */
  add(key: string, id: number): void {
    if (2 * (this.count + 1) > this.mask + 1) this.resize(2 * (this.mask + 1))
    this.place(key, hashOf(key), id)
    this.count++
  }

  /** Takes `key` out; false when it had no id. */
  delete(key: string): boolean {
    const hash = hashOf(key)
    const slots = this.slots
    const mask = this.mask
    let s = hash & mask
    for (; ; s = (s + 1) & mask) {
      const h = slots[s * STRIDE] as number
      if (h === EMPTY) return false
      if (h === hash && slots[s * STRIDE + 2] === key) break
    }
    // Backward-shift deletion: a later slot of the run moves into the hole when the hole lies on
    // its probe path (between its home slot and where it is, cyclically).
    let hole = s
    for (let t = (s + 1) & mask; ; t = (t + 1) & mask) {
      const h = slots[t * STRIDE] as number
      if (h === EMPTY) break
      const home = h & mask
      const onPath = hole <= t ? home <= hole || home > t : home <= hole && home > t
      if (!onPath) continue
      slots[hole * STRIDE] = h
      slots[hole * STRIDE + 1] = slots[t * STRIDE + 1] as number
      slots[hole * STRIDE + 2] = slots[t * STRIDE + 2] as string
      hole = t
    }
    slots[hole * STRIDE] = EMPTY
    slots[hole * STRIDE + 1] = EMPTY
    slots[hole * STRIDE + 2] = EMPTY
    this.count--
    // Shrink when an eighth full, so a burst of keys does not keep its table.
    if (this.mask + 1 > this.minSlots && 8 * this.count < this.mask + 1) this.resize((this.mask + 1) / 2)
    return true
  }

  /** Every key with its id, in no particular order. */
  forEach(visit: (key: string, id: number) => void): void {
    const slots = this.slots
    for (let at = 0; at < slots.length; at += STRIDE)
      if (slots[at] !== EMPTY) visit(slots[at + 2] as string, slots[at + 1] as number)
  }

  clear(): void {
    this.slots = emptySlots(this.minSlots)
    this.mask = this.minSlots - 1
    this.count = 0
  }

  private place(key: string, hash: number, id: number): void {
    const slots = this.slots
    let s = hash & this.mask
    while (slots[s * STRIDE] !== EMPTY) s = (s + 1) & this.mask
    slots[s * STRIDE] = hash
    slots[s * STRIDE + 1] = id
    slots[s * STRIDE + 2] = key
  }

  private resize(size: number): void {
    const old = this.slots
    this.slots = emptySlots(size)
    this.mask = size - 1
    for (let at = 0; at < old.length; at += STRIDE)
      if (old[at] !== EMPTY) this.place(old[at + 2] as string, old[at] as number, old[at + 1] as number)
  }
}

/** `size` empty slots (a key's place holds EMPTY too: no string equals a number). */
function emptySlots(size: number): (number | string)[] {
  return new Array<number | string>(size * STRIDE).fill(EMPTY)
}

/** FNV-1a over the key's UTF-16 code units, folded to 30 bits (a small integer in V8). */
export function hashOf(key: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  return (h ^ (h >>> 15)) & 0x3fffffff
}
