/**
 * The rows of the CEP kernel's ring of taken events (inline records, decision 0032's addendum of
 * 19:40): entry i's row at i & (capacity - 1) of an array as long as the ring, as the kernel keeps
 * the entry itself. Indices count up and wrap at 2^32 (the kernel's u32). Appending is a store at
 * the next slots in order, not a store per node number at random places; a dropped entry's row
 * stays until its slot is written again (clearing it would cost a store per event for memory the
 * next entry takes anyway).
 *
 * When the kernel doubles the ring, an entry whose slot changes moves up by the old capacity: the
 * rows follow with `follow`, for the entries the kernel may still name (from its floor on).
 */
export class RingRows {
  private rows: unknown[]
  private capacity: number
  /** The ring's tail when rows were last given: entries before it have theirs. */
  private tail: number

  constructor(capacity: number, tail: number) {
    this.rows = new Array<unknown>(capacity)
    this.capacity = capacity
    this.tail = tail >>> 0
  }

  /**
   * After a kernel call that may have doubled the ring (now `capacity`): moves the rows of entries
   * [floor, tail) to their slots in it.
   */
  follow(capacity: number, floor: number): void {
    if (capacity === this.capacity) return
    if (capacity < this.capacity || (capacity & (capacity - 1)) !== 0)
      throw new RangeError(`the CEP kernel's ring went from ${this.capacity} to ${capacity} entries`)
    const next = new Array<unknown>(capacity)
    const from = this.capacity - 1
    const to = capacity - 1
    for (let i = floor >>> 0; i !== this.tail; i = (i + 1) >>> 0) next[i & to] = this.rows[i & from]
    this.rows = next
    this.capacity = capacity
  }

  set(index: number, row: unknown): void {
    this.rows[index & (this.capacity - 1)] = row
  }

  get(index: number): unknown {
    return this.rows[index & (this.capacity - 1)]
  }

  /** The kernel's tail after the rows of the entries before it were set. */
  endAt(tail: number): void {
    this.tail = tail >>> 0
  }

  /** The live entries' [index, row] pairs, head to tail (snapshots). */
  entries(head: number): [number, unknown][] {
    const out: [number, unknown][] = []
    for (let i = head >>> 0; i !== this.tail; i = (i + 1) >>> 0) out.push([i, this.get(i)])
    return out
  }
}

/** What a CEP kernel with inline records exports about its ring (cep-kernel.ts: CepExports). */
export interface RingExports {
  ringPtr(): number
  ringCapacity(): number
  ringHeadOf(): number
  ringTailOf(): number
  ringFloorOf(): number
}

/**
 * A kernel's ring together with the host's rows of its entries: RingRows kept in step with the
 * kernel's exports, so the host holds one object where it held a RingRows and the exports beside it.
 */
export class KernelRing {
  private readonly rows: RingRows

  constructor(private readonly ring: RingExports) {
    this.rows = new RingRows(ring.ringCapacity(), ring.ringTailOf())
  }

  /** Before a call's new entries get their rows: follows the kernel's doubling of the ring. */
  follow(): void {
    this.rows.follow(this.ring.ringCapacity(), this.ring.ringFloorOf())
  }

  set(index: number, row: unknown): void {
    this.rows.set(index, row)
  }

  get(index: number): unknown {
    return this.rows.get(index)
  }

  /** After the rows of a call's new entries were set. */
  end(): void {
    this.rows.endAt(this.ring.ringTailOf())
  }

  /** Entries still live (taken events a partial match may still hold). */
  get live(): number {
    return (this.ring.ringTailOf() - this.ring.ringHeadOf()) >>> 0
  }

  /** The live entries' [index, row] pairs, head to tail (snapshots). */
  entries(): [number, unknown][] {
    return this.rows.entries(this.ring.ringHeadOf())
  }

  /** The ring's address in the kernel's memory (entries of RING_ENTRY_BYTES, by index & mask). */
  get ptr(): number {
    return this.ring.ringPtr()
  }

  get mask(): number {
    return this.ring.ringCapacity() - 1
  }
}
