/**
 * Windows over a union of several sources (specs/language.md, "Unions"; docs/decisions/0036).
 *
 * The union's watermark is the smallest of its sources' watermarks (Flink's union forwards the
 * minimum over its inputs): as of source record o of a batch of source s, the smaller over every
 * source u of `M_u − delay_u`, where M_u is u's largest event time so far on the task's partition
 * (for s, including the batch's records up to o). The runner hands a window its input's per-record
 * largest event times (`sourceMaxTimes`); over such a union they are s's alone, so
 * `UnionInputsWindow` keeps every source's M_u and gives the window it wraps the union's watermark
 * in their place, with no delay of its own. Which source a batch's array belongs to travels with
 * the array (`markSourceTimes`): the runner marks the arrays it makes for a source's batch or
 * tick, and every step between the source and the window passes the same array on.
 *
 * The topics upstream of a union are read as co-partitioned tasks (runtime/node/copartitioned.ts),
 * so the window's state, the M_u among it, is the task's: the M_u are in the window's snapshot,
 * and a restart from a checkpoint resumes with the watermark each source had reached there.
 * Before a source has delivered anything its M_u is −∞ and holds the union's watermark back, as an
 * input that has read nothing holds back Flink's. With `--idle-timeout` (Flink's `withIdleness`),
 * a source that delivered nothing on the task for the timeout stops holding it back until it
 * delivers again, as an idle side of a join does; and a source's idle partition follows that
 * source's other partitions (docs/decisions/0028) through the ticks' arrays.
 */
import type { GraphNode } from '../artifact/manifest.ts'
import { inputsOf } from '../artifact/manifest.ts'
import type { EventBatch } from '../artifact/operators.ts'
import type { Budgeted, EntryBudgetLimits, StateStats } from '../state/entry-budget.ts'
import { type IdleClock, IdleInputs } from './idle-inputs.ts'
import type { WindowBatchOutput, WindowedOperator } from './window-operator.ts'

/** Which Source node's batch (or tick) a per-record array of largest event times belongs to. */
const sourceOfTimes = new WeakMap<Float64Array, { readonly source: string; readonly tick: boolean }>()

/**
 * Marks `times` as the largest event times of Source node `sourceId`'s batch (or, `tick`, of an
 * idle partition's tick, which is no arrival); returns it.
 */
export function markSourceTimes(times: Float64Array, sourceId: string, tick = false): Float64Array {
  sourceOfTimes.set(times, { source: sourceId, tick })
  return times
}

/** A union source: its Source node id and watermark delay. */
export interface UnionSource {
  readonly id: string
  readonly delayMs: number
}

/** Snapshot: magic, source count (u32), each source's M_u (f64), then the wrapped window's. */
const SNAPSHOT_MAGIC = 0x534c5531 // "SLU1"

export class UnionInputsWindow implements WindowedOperator, Budgeted {
  /** Per source (in `sources` order), its largest event time on the task's partition so far. */
  private readonly maxTimes: Float64Array
  private changed = false
  /** With an idle timeout: when each source (by index) last delivered on this task. */
  private readonly arrivals: IdleInputs<number> | null

  constructor(
    /** The window, made with no delay: what it is handed is the union's watermark already. */
    private readonly window: WindowedOperator & Budgeted,
    private readonly sources: readonly UnionSource[],
    /**
     * `--idle-timeout`: a source that delivered nothing on the task for the timeout (wall clock,
     * counted from the task's assignment for one that never did) stops holding the union's
     * watermark back until it delivers again, as an idle side of a join (IdleInputs).
     */
    idle?: IdleClock,
  ) {
    this.maxTimes = new Float64Array(sources.length).fill(Number.NEGATIVE_INFINITY)
    this.arrivals = idle === undefined ? null : new IdleInputs<number>(idle)
    for (let u = 0; u < sources.length; u++) this.arrivals?.known(u)
  }

  /** The union's watermark as the window last took it (its delay is 0). */
  get maxTime(): number {
    return this.window.maxTime
  }
  get delayMs(): number {
    return this.window.delayMs
  }
  get rows(): number {
    return this.window.rows
  }
  get approximateBytes(): number {
    return this.window.approximateBytes
  }
  get stats(): StateStats {
    return this.window.stats
  }
  get stateEntries(): number {
    return this.window.stateEntries
  }
  get stateBytes(): number {
    return this.window.stateBytes
  }
  bound(limits: EntryBudgetLimits, step: string): void {
    this.window.bound(limits, step)
  }

  process(input: EventBatch, sourceMaxTimes: Float64Array, lastRecord: number): WindowBatchOutput {
    const marked = sourceOfTimes.get(sourceMaxTimes)
    const at = this.sources.findIndex((s) => s.id === marked?.source)
    if (at < 0)
      throw new Error(
        `a window over a union was handed event times of no source of the union (${marked?.source})`,
      )
    if (marked?.tick === false) this.arrivals?.arrived(at)
    // Idle sources count only when every one is idle (then nothing moves by itself).
    const counted = this.sources.map((_, u) => !(this.arrivals?.isIdle(u) ?? false))
    if (!counted.includes(true)) counted.fill(true)
    const watermarks = new Float64Array(sourceMaxTimes.length)
    for (let o = 0; o < sourceMaxTimes.length; o++) {
      let watermark = Number.POSITIVE_INFINITY
      for (let u = 0; u < this.sources.length; u++) {
        if (!counted[u]) continue
        const max = u === at ? Math.max(this.maxTimes[u]!, sourceMaxTimes[o]!) : this.maxTimes[u]!
        watermark = Math.min(watermark, max - this.sources[u]!.delayMs)
      }
      watermarks[o] = watermark
    }
    const output = this.window.process(input, watermarks, lastRecord)
    if (lastRecord >= 0 && sourceMaxTimes[lastRecord]! > this.maxTimes[at]!) {
      this.maxTimes[at] = sourceMaxTimes[lastRecord]!
      this.changed = true
    }
    return output
  }

  takeChanged(): boolean {
    const window = this.window.takeChanged()
    const own = this.changed
    this.changed = false
    return window || own
  }

  snapshot(): Buffer {
    const inner = this.window.snapshot()
    const head = Buffer.alloc(8 + 8 * this.sources.length)
    head.writeUInt32BE(SNAPSHOT_MAGIC, 0)
    head.writeUInt32BE(this.sources.length, 4)
    for (let u = 0; u < this.maxTimes.length; u++) head.writeDoubleBE(this.maxTimes[u]!, 8 + 8 * u)
    return Buffer.concat([head, inner])
  }

  restore(bytes: Buffer | undefined): void {
    this.maxTimes.fill(Number.NEGATIVE_INFINITY)
    if (bytes === undefined || bytes.length === 0) {
      this.window.restore(bytes)
      return
    }
    if (bytes.length < 8 || bytes.readUInt32BE(0) !== SNAPSHOT_MAGIC)
      throw new Error('not the snapshot of a window over a union of several sources')
    const count = bytes.readUInt32BE(4)
    if (count !== this.sources.length)
      throw new Error(
        `the snapshot of a window over a union has ${count} sources but the union has ${this.sources.length}`,
      )
    for (let u = 0; u < count; u++) this.maxTimes[u] = bytes.readDoubleBE(8 + 8 * u)
    this.window.restore(bytes.subarray(8 + 8 * count))
  }
}

/** `window` as it runs over the union of `sources` (null: over no union of several sources). */
export function windowOverUnion(
  window: WindowedOperator & Budgeted,
  sources: readonly UnionSource[] | null,
  idle?: IdleClock,
): WindowedOperator & Budgeted {
  return sources === null ? window : new UnionInputsWindow(window, sources, idle)
}

/**
 * The sources of the union a window's input (`input`, a node id) reads, when it is a union of
 * several sources whose inputs each read one source through chains and lookups (which keep event
 * times); else null. The runtime's twin of compiler/ir/union-sources.ts.
 */
export function unionSourcesOf(
  input: string,
  byId: (id: string) => GraphNode | undefined,
): readonly string[] | null {
  const keepsTime = (node: GraphNode) => node.kind === 'Fused' || node.kind === 'Lookup'
  let node = byId(input)
  while (node !== undefined && keepsTime(node)) node = byId(inputsOf(node)[0]!)
  if (node?.kind !== 'Union') return null
  const sources: string[] = []
  for (const each of node.inputs) {
    let at = byId(each)
    while (at !== undefined && keepsTime(at)) at = byId(inputsOf(at)[0]!)
    if (at?.kind !== 'Source') return null
    if (!sources.includes(at.id)) sources.push(at.id)
  }
  return sources.length >= 2 ? sources : null
}
