import type { SnapshotChanges } from './index.ts'
import { type EntryLayer, EntryWriter, SnapshotEntries } from './snapshot-entries.ts'

/** One timer: fire for `key` once the clock (event time: the watermark) reaches `time`. */
export interface Timer {
  readonly key: string
  readonly time: number
}

/**
 * Timers of one operator and source partition, for one clock (an operator that needs both event
 * time and processing time keeps two, with different prefixes). A key has at most one timer per
 * time; `due(upTo)` hands out every timer at or before `upTo` in time order (ties by key) and
 * removes it. Timers are part of the checkpoint like values (takeChanges / restore), so a restored
 * operator fires exactly the timers the crashed one had not fired at the committed epoch.
 */
export class TimerQueue {
  /** Min-heap by (time, key). */
  private readonly heap: Timer[] = []
  private readonly ids = new Set<string>()
  private readonly dirty = new Map<string, boolean>()

  constructor(private readonly prefix = 't:') {}

  get size(): number {
    return this.heap.length
  }

  /** The earliest timer's time, or undefined when there is none. */
  get next(): number | undefined {
    return this.heap[0]?.time
  }

  /** Registers a timer; a second one for the same key and time is the same timer. */
  register(key: string, time: number): void {
    const id = timerId(key, time)
    if (this.ids.has(id)) return
    this.ids.add(id)
    this.dirty.set(id, true)
    this.push({ key, time })
  }

  /** Removes and returns every timer due at `upTo` (time ≤ upTo), earliest first. */
  due(upTo: number): Timer[] {
    const out: Timer[] = []
    while (this.heap.length > 0 && this.heap[0]!.time <= upTo) {
      const timer = this.pop()
      const id = timerId(timer.key, timer.time)
      this.ids.delete(id)
      this.dirty.set(id, false)
      out.push(timer)
    }
    return out
  }

  /** The changes since the last call; puts encoded into one buffer, like KeyedState's. */
  takeChanges(): SnapshotChanges {
    const writer = new EntryWriter(0, 64 * this.dirty.size + 64)
    const deletes: string[] = []
    for (const [id, added] of this.dirty) {
      if (!added) {
        deletes.push(this.prefix + id)
        continue
      }
      writer.key(this.prefix, id)
      writer.value(EMPTY)
    }
    this.dirty.clear()
    // No puts as a plain empty Map: what callers compare against.
    const puts = writer.count === 0 ? new Map<string, Buffer>() : new SnapshotEntries([writer.finish().layer])
    return { puts, deletes }
  }

  restore(snapshot: ReadonlyMap<string, Buffer>): void {
    this.heap.length = 0
    this.ids.clear()
    this.dirty.clear()
    const keys = snapshot instanceof SnapshotEntries ? snapshot.keysWithPrefix(this.prefix) : snapshot.keys()
    for (const stored of keys) {
      if (!stored.startsWith(this.prefix)) continue
      const id = stored.slice(this.prefix.length)
      const separator = id.indexOf(':')
      const time = Number(id.slice(0, separator))
      this.ids.add(id)
      this.push({ time, key: id.slice(separator + 1) })
    }
  }

  private push(timer: Timer): void {
    const heap = this.heap
    heap.push(timer)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(heap[i]!, heap[parent]!)) break
      ;[heap[i], heap[parent]] = [heap[parent]!, heap[i]!]
      i = parent
    }
  }

  private pop(): Timer {
    const heap = this.heap
    const top = heap[0]!
    const last = heap.pop()!
    if (heap.length > 0) {
      heap[0] = last
      let i = 0
      for (;;) {
        const left = 2 * i + 1
        const right = left + 1
        let smallest = i
        if (left < heap.length && before(heap[left]!, heap[smallest]!)) smallest = left
        if (right < heap.length && before(heap[right]!, heap[smallest]!)) smallest = right
        if (smallest === i) break
        ;[heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!]
        i = smallest
      }
    }
    return top
  }
}

const EMPTY = Buffer.alloc(0)

/** `<time>:<key>`: the time first (a safe integer, no ':' in it), so the key may hold anything. */
function timerId(key: string, time: number): string {
  return `${time}:${key}`
}

function before(a: Timer, b: Timer): boolean {
  return a.time < b.time || (a.time === b.time && a.key < b.key)
}

/**
 * One epoch's changes of several states that share a scope (their prefixes keep them apart). Puts
 * that are encoded entries (KeyedState's, a TimerQueue's once encoded) stay so, as layers: a
 * million changed values are not turned into a Map of strings and Buffers on the way to a file.
 */
export function mergeChanges(...changes: SnapshotChanges[]): SnapshotChanges {
  const deletes: string[] = []
  for (const c of changes) deletes.push(...c.deletes)
  const withPuts = changes.filter((c) => !(c.puts instanceof Map && c.puts.size === 0))
  if (withPuts.length === 0) return { puts: new Map(), deletes }
  if (withPuts.length === 1) return { puts: withPuts[0]!.puts, deletes }
  const layers: EntryLayer[] = []
  for (const { puts } of withPuts) {
    if (!(puts instanceof SnapshotEntries) || puts.mayRepeat) return { puts: mergedMap(withPuts), deletes }
    layers.push(...puts.layers)
  }
  return { puts: new SnapshotEntries(layers), deletes }
}

function mergedMap(changes: readonly SnapshotChanges[]): Map<string, Buffer> {
  const puts = new Map<string, Buffer>()
  for (const c of changes) for (const [k, v] of c.puts) puts.set(k, v)
  return puts
}
