/**
 * Per slot of a KeyedState, its key as a snapshot entry holds it (prefix and key, UTF-8), kept in
 * one growing buffer from the first checkpoint that wrote it (issue 12). A running aggregate's
 * checkpoint writes nearly every key every second; copying a key's bytes from here, slot after
 * slot, reads memory front to back, where writing it from its string first reads the string
 * object, somewhere in the heap (a cache miss per key), and then encodes it unit by unit.
 *
 * Space freed by forgotten slots is reclaimed when the buffer would otherwise have to grow and at
 * least half of it is freed: the kept spans are copied into a new buffer in slot order.
 */
export class KeyBytes {
  /** The kept bytes, spans of them per slot. */
  bytes: Buffer
  /** Per slot: start and end in `bytes`; end 0 (and an empty span) is nothing kept. */
  private spans = new Uint32Array(2 * 64)
  /** Bytes used at the front of `bytes`, and how many of them belong to kept spans. */
  private used = 0
  private live = 0

  /** `initialBytes`: the buffer's first size (tests make it small to make it compact and grow). */
  constructor(initialBytes = 4096) {
    this.bytes = Buffer.allocUnsafe(Math.max(1, initialBytes))
  }

  /** Whether the slot's key bytes are kept. */
  has(slot: number): boolean {
    const at = 2 * slot
    return at < this.spans.length && this.spans[at + 1]! > this.spans[at]!
  }

  startOf(slot: number): number {
    return this.spans[2 * slot]!
  }

  endOf(slot: number): number {
    return this.spans[2 * slot + 1]!
  }

  /** Keeps source[start, end) as the slot's key bytes (replacing any kept before). */
  keep(slot: number, source: Uint8Array, start: number, end: number): void {
    this.forget(slot)
    const length = end - start
    if (length === 0) return
    if (this.used + length > this.bytes.length) this.makeRoom(length)
    if (2 * slot + 1 >= this.spans.length) {
      let size = this.spans.length * 2
      while (2 * slot + 1 >= size) size *= 2
      const spans = new Uint32Array(size)
      spans.set(this.spans)
      this.spans = spans
    }
    const bytes = this.bytes
    let at = this.used
    for (let i = start; i < end; i++) bytes[at++] = source[i]!
    this.spans[2 * slot] = this.used
    this.spans[2 * slot + 1] = at
    this.used = at
    this.live += length
  }

  /** The slot's key is gone (or about to be another's): its bytes are no longer kept. */
  forget(slot: number): void {
    if (!this.has(slot)) return
    const at = 2 * slot
    this.live -= this.spans[at + 1]! - this.spans[at]!
    this.spans[at] = 0
    this.spans[at + 1] = 0
  }

  clear(): void {
    this.spans.fill(0)
    this.used = 0
    this.live = 0
  }

  /** Room for `length` more bytes: the kept spans compacted when half is free, else a larger buffer. */
  private makeRoom(length: number): void {
    const compact = 2 * this.live <= this.used
    const needed = (compact ? this.live : this.used) + length
    // At most half full afterwards, so the next few keys do not compact or grow it again.
    let size = this.bytes.length
    while (2 * needed > size) size *= 2
    const bytes = Buffer.allocUnsafe(size)
    const spans = this.spans
    let at = 0
    if (compact) {
      // Slot order: what a checkpoint walks, so its reads stay front to back.
      for (let s = 0; s < spans.length; s += 2) {
        const start = spans[s]!
        const end = spans[s + 1]!
        if (end <= start) continue
        this.bytes.copy(bytes, at, start, end)
        spans[s] = at
        at += end - start
        spans[s + 1] = at
      }
    } else {
      this.bytes.copy(bytes, 0, 0, this.used)
      at = this.used
    }
    this.bytes = bytes
    this.used = at
  }
}
