/**
 * Host binding of the CEP kernel (wasm/kernels/cep.ts): a PatternEngine (runtime/cep/engine.ts)
 * whose partial matches live in a WebAssembly instance's linear memory, stepping the same NFA
 * (runtime/cep/nfa-types.ts) with the same rules as the TypeScript engine (runtime/cep/nfa.ts).
 *
 *   const kernel = await loadCepKernel()                 // wasm/dist/cep.wasm, compiled once
 *   const engine = kernel.createEngine(nfa, spec, budget) // one instance (own memory) per engine
 *   engine.step(released, matches, failures)              // released.masks filled (wantsMasks)
 *
 * The kernel serves patterns whose conditions are all event-local (every PatternStepInfo.reads
 * empty, at most 16 steps): the operator evaluates them per batch into bitmasks (bit s: step s's
 * condition, bit 16 + s its `until`) and the NFA's condition trees are flattened here into
 * disjunctions of (mustSet, mustClear) terms over that mask. `kernelRefusal` says why a pattern
 * is not served.
 *
 * Events: a partial match's events are path nodes in the kernel (a node per event taken, shared by
 * the branches that took it before they split); the host keeps each node's row under the node's
 * number (the kernel lists the nodes a call created with their event's index in the batch).
 * Patterns of the inline class (cep-record-layout.ts) keep no path nodes: a record holds its
 * events' ring indices, and the host keeps each ring entry's row in a circular array of the ring's
 * capacity, by index (KernelRing over RingRows, ring-rows.ts).
 * A released node's row stays until the node is reused (a snapshot takes the rows of live nodes
 * only): clearing it was a write at a random place of a large array per released node, about
 * one per event, for memory that the next node in that place takes anyway. Matches and timeouts
 * come back as records of (step, node) pairs, turned here into EngineMatch.
 * Timeouts the kernel finds while stepping (an event came after a partial match's `within` ran
 * out) wait for the next advanceTime, the only call that reports timeouts.
 *
 * Not covered: `trace` (explain runs the TypeScript engine); iterative conditions.
 */

import { fileURLToPath } from 'node:url'
import { deserialize, serialize } from 'node:v8'
import {
  type CepFunctions,
  type DropReason,
  type EngineBudget,
  type EngineMatch,
  HELD_FIELDS,
  type KeyMatches,
  PARTIAL_FIELDS,
  type PatternEngine,
  type PatternEngineFactory,
  type ReleasedEvents,
  type SegmentOutputs,
  stepSegmentsOneByOne,
  type TraceEntry,
} from '../../runtime/cep/engine.ts'
import type { Nfa, NfaCondition } from '../../runtime/cep/nfa-types.ts'
import type { PatternSpec } from '../../runtime/cep/pattern-spec.ts'
import { inlineSlots, RECORD_BYTES, type RecordLayout, recordLayout } from './cep-record-layout.ts'
import { compileKernelModule, instantiateKernelModule } from './kernel-host.ts'
import { KernelRing } from './ring-rows.ts'

/** The default location of the built kernel (`npm run build:wasm`, or `buildKernel` from wasm/build.ts). */
export const CEP_WASM_PATH = fileURLToPath(new URL('../dist/cep.wasm', import.meta.url))

/** Steps a mask can carry: bits 0–15 conditions, 16–31 untils. */
export const MAX_KERNEL_STEPS = 16
/** More terms than this in one edge's guard: the pattern is left to the TypeScript engine. */
const MAX_TERMS_PER_EDGE = 256

interface CepExports {
  readonly memory: WebAssembly.Memory
  readonly heapBase: () => number
  readonly init: (
    states: number,
    edges: number,
    terms: number,
    start: number,
    within: number,
    skip: number,
    skipStep: number,
    maxPerKey: number,
    maxTotal: number,
    reportTimeouts: number,
    /** 1: compact partial match records (cep-record-layout.ts); kernels before them ignore it. */
    compactRecords: number,
    /** Inline records of this many events (2 or 4), 0: none; kernels before them ignore it. */
    inlineSlots: number,
  ) => void
  readonly setState: (s: number, kind: number, edgeStart: number, edgeCount: number, window: number) => void
  readonly setEdge: (
    e: number,
    action: number,
    target: number,
    step: number,
    termStart: number,
    termCount: number,
  ) => void
  readonly setTerm: (t: number, mustSet: number, mustClear: number) => void
  readonly reserveInput: (length: number) => void
  readonly step: (length: number) => number
  /** Absent from kernels before it (the A/B benchmark's base may be one): then segment by segment. */
  readonly stepSegments?: (length: number, segments: number) => number
  readonly inputSegmentEnds?: () => number
  readonly inputSegmentWatermarks?: () => number
  readonly segmentStepOut?: () => number
  readonly segmentAdvanceOut?: () => number
  readonly inputEmptyChecks?: () => number
  readonly advanceTime: (watermark: number) => void
  readonly keyIsEmpty: (keyId: number) => number
  /** Absent from kernels built before it (the A/B benchmark's base may be one): see nextDue(). */
  readonly nextDue?: () => number
  readonly layoutVersion: () => number
  readonly inputCapacity: () => number
  readonly inputKeyIds: () => number
  readonly inputMasks: () => number
  readonly inputTimes: () => number
  readonly inputSeqs: () => number
  readonly outputPtr: () => number
  readonly outputBytes: () => number
  readonly releasedPtr: () => number
  readonly releasedCount: () => number
  readonly nodesPtr: () => number
  readonly takenPtr: () => number
  readonly takenCountOf: () => number
  readonly partialCount: () => number
  readonly nodeCount: () => number
  readonly dropCount: (reason: number) => number
  readonly layoutBytes: () => number
  readonly regionCount: () => number
  readonly regionPtr: (r: number) => number
  readonly regionUsed: (r: number) => number
  readonly reserveRegion: (r: number, bytes: number) => void
  readonly saveMeta: () => number
  readonly metaWords: () => number
  readonly metaAddress: () => number
  readonly loadMeta: () => void
  readonly takeDirty: () => number
  readonly dirtyPtr: () => number
  readonly exportKey: (keyId: number) => number
  readonly reserveStaging: (bytes: number) => void
  readonly importKey: (keyId: number) => void
  /** Absent from kernels before compact records (the A/B benchmark's base may be one). */
  readonly recordBytes?: () => number
  readonly compactFullRecords?: () => void
  /** Absent from kernels before timer generations (the A/B benchmark's base may be one). */
  readonly stampTimerGenerations?: () => void
  /** Absent from kernels before it (the A/B benchmark's base may be one): see EngineTuning. */
  readonly setTuning?: (readAheadFromBytes: number, decisionCache: number) => void
  /** The ring of taken events of inline records; absent from kernels before them (then no inline records). */
  readonly ringPtr?: () => number
  readonly ringCapacity?: () => number
  readonly ringHeadOf?: () => number
  readonly ringTailOf?: () => number
  readonly ringFloorOf?: () => number
}

/** The ring exports of a kernel with inline records. */
type RingExports = Required<
  Pick<CepExports, 'ringPtr' | 'ringCapacity' | 'ringHeadOf' | 'ringTailOf' | 'ringFloorOf'>
>

function ringExportsOf(kernel: CepExports): RingExports | null {
  const { ringPtr, ringCapacity, ringHeadOf, ringTailOf, ringFloorOf } = kernel
  if (
    ringPtr === undefined ||
    ringCapacity === undefined ||
    ringHeadOf === undefined ||
    ringTailOf === undefined ||
    ringFloorOf === undefined
  )
    return null
  return { ringPtr, ringCapacity, ringHeadOf, ringTailOf, ringFloorOf }
}

const REQUIRED_EXPORTS = [
  'memory',
  'heapBase',
  'init',
  'setState',
  'setEdge',
  'setTerm',
  'reserveInput',
  'step',
  'advanceTime',
  'keyIsEmpty',
  'saveMeta',
  'loadMeta',
  'takeDirty',
  'exportKey',
  'importKey',
] as const

/** Why the kernel cannot run a pattern: the operator then uses the TypeScript engine. */
export class CepKernelUnsupportedError extends Error {
  constructor(reason: string) {
    super(`the WebAssembly CEP kernel cannot run this pattern: ${reason}`)
    this.name = 'CepKernelUnsupportedError'
  }
}

/** Why the kernel cannot run `spec`, or null when it can. */
export function kernelRefusal(spec: PatternSpec): string | null {
  if (spec.steps.length > MAX_KERNEL_STEPS)
    return `it has ${spec.steps.length} steps (the kernel's masks hold ${MAX_KERNEL_STEPS})`
  const iterative = spec.steps.find((step) => step.reads.length > 0)
  if (iterative !== undefined)
    return `step ${iterative.name}'s condition reads earlier events (only event-local conditions run on masks)`
  return null
}

/** One conjunction over a condition mask: every bit of `set` is 1 and every bit of `clear` is 0. */
export interface MaskTerm {
  readonly set: number
  readonly clear: number
}

function conditionBit(kind: 'step' | 'until', step: number): number {
  if (!Number.isInteger(step) || step < 0 || step >= MAX_KERNEL_STEPS)
    throw new CepKernelUnsupportedError(`a condition names step ${step}`)
  return (1 << (kind === 'step' ? step : 16 + step)) >>> 0
}

/** a AND b over term lists (contradictory terms dropped, duplicates merged). */
function andTerms(a: readonly MaskTerm[], b: readonly MaskTerm[]): MaskTerm[] {
  const out: MaskTerm[] = []
  const seen = new Set<string>()
  for (const x of a) {
    for (const y of b) {
      const set = (x.set | y.set) >>> 0
      const clear = (x.clear | y.clear) >>> 0
      if ((set & clear) !== 0) continue
      const id = `${set}/${clear}`
      if (seen.has(id)) continue
      seen.add(id)
      out.push({ set, clear })
      if (out.length > MAX_TERMS_PER_EDGE)
        throw new CepKernelUnsupportedError('a condition flattens into too many terms')
    }
  }
  return out
}

/** The condition as a disjunction of mask terms (empty: never holds). */
export function conditionTerms(condition: NfaCondition): MaskTerm[] {
  switch (condition.kind) {
    case 'true':
      return [{ set: 0, clear: 0 }]
    case 'step':
    case 'until':
      return [{ set: conditionBit(condition.kind, condition.step), clear: 0 }]
    case 'and':
      return condition.of.reduce<MaskTerm[]>(
        (terms, part) => andTerms(terms, conditionTerms(part)),
        [{ set: 0, clear: 0 }],
      )
    case 'or': {
      const out: MaskTerm[] = []
      for (const part of condition.of) out.push(...conditionTerms(part))
      if (out.length > MAX_TERMS_PER_EDGE)
        throw new CepKernelUnsupportedError('a condition flattens into too many terms')
      return out
    }
    case 'not': {
      // not (t1 or t2 …) = (not t1) and (not t2) …; not t = one of its literals negated.
      let out: MaskTerm[] = [{ set: 0, clear: 0 }]
      for (const term of conditionTerms(condition.of)) {
        const negated: MaskTerm[] = []
        for (let bit = 0; bit < 32; bit++) {
          const b = (1 << bit) >>> 0
          if ((term.set & b) !== 0) negated.push({ set: 0, clear: b })
          if ((term.clear & b) !== 0) negated.push({ set: b, clear: 0 })
        }
        out = andTerms(out, negated)
      }
      return out
    }
  }
}

/** Evaluates a term list against a mask (tests; the kernel does the same). */
export function termsHold(terms: readonly MaskTerm[], mask: number): boolean {
  return terms.some((t) => (mask & t.set) >>> 0 === t.set && (mask & t.clear) === 0)
}

const STATE_KINDS = { start: 0, normal: 1, final: 2, stop: 3, pending: 4 } as const
const ACTIONS = { take: 0, ignore: 1, proceed: 2 } as const
const SKIP_CODES = { noSkip: 0, toNext: 1, pastLastEvent: 2, toFirst: 3, toLast: 4 } as const
const DROP_REASONS: readonly DropReason[] = ['timeout', 'budget', 'skip', 'negation', 'no-continuation']
const RECORD_TIMEOUT = 1
/** Bytes per path node in the kernel: step, previous, refs, (pad), time f64, seq f64. */
const NODE_BYTES = 32
const NODE_REFS_OFFSET = 8
const NODE_SEQ_OFFSET = 24
/** Bytes per ring entry (inline records): time f64, seq f64, latest start f64. */
const RING_ENTRY_BYTES = 24
const RING_SEQ_OFFSET = 8
/** The kernel's region of path nodes (its regionUsed is the nodes in use or free). */
const NODES_REGION = 3
/** The kernel's exchange form of one key (exportKey, importKey): header, then nodes, then states. */
const X_HEADER = 16
const X_NODE = 32
const X_STATE = 40
/**
 * Snapshots hold the kernel's memory as it is: only this engine at this layout reads them.
 * Version 7: partial match records inline, compact or full (cep-record-layout.ts), the ring of
 * taken events a region more, its live rows by ring index (decision 0032, addendum of 19:40).
 * Version 6: records compact or full only (otherwise the same layout: restored into them, also
 * for a pattern now of the inline class, which then keeps its path nodes); timers and key headers
 * carry a generation (decision 0032, addendum of 20:00). Version 5: as 6, timers without
 * generations; read by giving every key and timer generation 0 after the restore. Version 4 had
 * full records only (otherwise version 5's layout), read by compacting them too.
 */
const SNAPSHOT_ENGINE = 'wasm-cep'
const SNAPSHOT_VERSION = 7
const SNAPSHOT_VERSION_PATH_NODES = 6
const SNAPSHOT_VERSION_NO_GENERATIONS = 5
const SNAPSHOT_VERSION_FULL_RECORDS = 4

/** The NFA as the kernel's tables. */
export interface FlatNfa {
  readonly states: readonly { kind: number; edgeStart: number; edgeCount: number; windowMs: number }[]
  readonly edges: readonly {
    action: number
    target: number
    step: number
    termStart: number
    termCount: number
  }[]
  readonly terms: readonly MaskTerm[]
}

export function flattenNfa(nfa: Nfa): FlatNfa {
  const states: FlatNfa['states'][number][] = []
  const edges: FlatNfa['edges'][number][] = []
  const terms: MaskTerm[] = []
  for (const state of nfa.states) {
    states.push({
      kind: STATE_KINDS[state.kind],
      edgeStart: edges.length,
      edgeCount: state.edges.length,
      windowMs: state.windowMs ?? Number.POSITIVE_INFINITY,
    })
    for (const edge of state.edges) {
      if (edge.target < 0 || edge.target >= nfa.states.length)
        throw new RangeError(`an edge of state ${state.name} targets state ${edge.target}`)
      const guard = conditionTerms(edge.condition)
      edges.push({
        action: ACTIONS[edge.action],
        target: edge.target,
        step: edge.step,
        termStart: terms.length,
        termCount: guard.length,
      })
      terms.push(...guard)
    }
  }
  return { states, edges, terms }
}

const budgetLimit = (n: number): number =>
  Number.isFinite(n) ? Math.max(0, Math.min(0x7fffffff, Math.floor(n))) : 0x7fffffff

/**
 * Kernel settings that change no result, for tests and benchmarks: `readAheadFromBytes` (default
 * 1 MiB: below it the state stays in the caches and the kernel does not read ahead; 0 always
 * reads ahead, so its loads are tested), `decisionCache` (default true; false steps every partial
 * match through the general decision, the reference for the cached fast path).
 */
export interface EngineTuning {
  readonly readAheadFromBytes?: number
  readonly decisionCache?: boolean
  /**
   * Whether a pattern of the inline class keeps its events in its records (default true; false:
   * compact records with path nodes, as before the inline class: the reference for it, and the
   * A/B benchmark's other side).
   */
  readonly inlineEvents?: boolean
}

export interface WasmEngineOptions {
  /**
   * Whether timed-out partial matches come back from advanceTime (default true). The factory sets
   * it from CepFunctions.timeout: without a `timeout into` the operator never asks for them, and
   * the kernel then only counts them (it spares walking their paths).
   */
  readonly reportTimeouts?: boolean
  readonly tuning?: EngineTuning
}

export interface CepKernel {
  /** A new engine on its own instance of the kernel. Throws CepKernelUnsupportedError when it cannot run the pattern. */
  createEngine(
    nfa: Nfa,
    spec: PatternSpec,
    budget: EngineBudget,
    options?: WasmEngineOptions,
  ): WasmPatternEngine
  /** A PatternEngineFactory over `compile` (runtime/cep/nfa-compile.ts). */
  factory(compile: (spec: PatternSpec) => Nfa): PatternEngineFactory
}

/** Compiles the CEP kernel (once per path) from its bytes or a `.wasm` path. */
export async function loadCepKernel(wasm: Uint8Array | string = CEP_WASM_PATH): Promise<CepKernel> {
  const module = await compileKernelModule(wasm, 'CEP', REQUIRED_EXPORTS)
  const createEngine = (nfa: Nfa, spec: PatternSpec, budget: EngineBudget, options: WasmEngineOptions = {}) =>
    new WasmPatternEngine(module, nfa, spec, budget, options.reportTimeouts ?? true, options.tuning)
  return {
    createEngine,
    factory:
      (compile) =>
      (spec: PatternSpec, functions: CepFunctions, budget: EngineBudget): PatternEngine =>
        createEngine(compile(spec), spec, budget, { reportTimeouts: functions.timeout !== null }),
  }
}

function instantiate(module: WebAssembly.Module): CepExports {
  return instantiateKernelModule<CepExports>(module, 'cep')
}

export class WasmPatternEngine implements PatternEngine {
  readonly wantsMasks = true
  private readonly kernel: CepExports
  private readonly memory: WebAssembly.Memory
  private readonly flat: FlatNfa
  private readonly nfa: Nfa
  private readonly skip: { code: number; step: number }
  private readonly budget: EngineBudget
  /** The records the pattern admits (cep-record-layout.ts; 'inline' also admits 'compact'). */
  private readonly patternLayout: RecordLayout
  /** The records the kernel keeps now: the pattern's, or a restored snapshot's (decision 0032). */
  private layout: RecordLayout
  /** The ring exports (null: a kernel before inline records). */
  private readonly ring: RingExports | null
  /** Rows of the events the kernel's path nodes hold, by node (a free node's: stale, unused). */
  private rows: unknown[] = []
  /** Inline records: the ring and its entries' rows, by index (null otherwise). */
  private ringRows: KernelRing | null = null
  /** Timeouts found while stepping, reported at the next advanceTime. */
  private pendingTimeouts: EngineMatch[] = []

  // Views of the input area, valid for viewBuffer and viewVersion.
  private viewBuffer: ArrayBuffer | null = null
  private viewVersion = -1
  private inKeyIds = new Int32Array(0)
  private inMasks = new Uint32Array(0)
  private inTimes = new Float64Array(0)
  private inSeqs = new Float64Array(0)
  private inSegmentEnds = new Int32Array(0)
  private inSegmentWatermarks = new Float64Array(0)
  private inEmptyChecks = new Int32Array(0)

  constructor(
    module: WebAssembly.Module,
    nfa: Nfa,
    spec: PatternSpec,
    budget: EngineBudget,
    private readonly reportTimeouts = true,
    private readonly tuning: EngineTuning | undefined = undefined,
  ) {
    const refusal = kernelRefusal(spec)
    if (refusal !== null) throw new CepKernelUnsupportedError(refusal)
    this.nfa = nfa
    this.flat = flattenNfa(nfa)
    const skip = spec.skip
    this.skip = {
      code: SKIP_CODES[skip.kind],
      step: skip.kind === 'toFirst' || skip.kind === 'toLast' ? skip.step : -1,
    }
    this.budget = budget
    this.kernel = instantiate(module)
    this.memory = this.kernel.memory
    this.ring = ringExportsOf(this.kernel)
    this.patternLayout = recordLayout(nfa, skip)
    this.layout =
      this.patternLayout === 'inline' && (tuning?.inlineEvents === false || this.ring === null)
        ? 'compact'
        : this.patternLayout
    this.configure()
  }

  /** The kernel's partial match record (decision 0032 and its addenda). */
  get recordLayout(): RecordLayout {
    return this.layout
  }

  /** Lays the NFA's tables into a fresh kernel state. */
  private configure(): void {
    const { states, edges, terms } = this.flat
    const kernel = this.kernel
    kernel.init(
      states.length,
      edges.length,
      terms.length,
      this.nfa.start,
      this.nfa.windowMs ?? Number.POSITIVE_INFINITY,
      this.skip.code,
      this.skip.step,
      budgetLimit(this.budget.maxPerKey),
      budgetLimit(this.budget.maxTotal),
      this.reportTimeouts ? 1 : 0,
      this.layout === 'full' ? 0 : 1,
      this.layout === 'inline' ? inlineSlots(this.nfa) : 0,
    )
    for (const [i, s] of states.entries()) kernel.setState(i, s.kind, s.edgeStart, s.edgeCount, s.windowMs)
    for (const [i, e] of edges.entries())
      kernel.setEdge(i, e.action, e.target, e.step, e.termStart, e.termCount)
    for (const [i, t] of terms.entries()) kernel.setTerm(i, t.set, t.clear)
    const tuning = this.tuning
    if (tuning !== undefined) {
      if (kernel.setTuning === undefined)
        throw new Error('this CEP kernel predates tuning: rebuild it (npm run build:wasm)')
      kernel.setTuning(tuning.readAheadFromBytes ?? 1 << 20, tuning.decisionCache === false ? 0 : 1)
    }
    this.rows = []
    const ring = this.ring
    this.ringRows = this.layout === 'inline' && ring !== null ? new KernelRing(ring) : null
    this.pendingTimeouts = []
    this.viewBuffer = null
  }

  get partialMatches(): number {
    return this.kernel.partialCount()
  }

  get dropped(): Readonly<Record<DropReason, number>> {
    const out = {} as Record<DropReason, number>
    DROP_REASONS.forEach((reason, i) => {
      out[reason] = this.kernel.dropCount(i)
    })
    return out
  }

  /**
   * Path nodes held for partial matches (each holds one event's row; metrics, benchmarks); with
   * inline records, the ring's live entries (one per taken event, dropped by the watermark).
   */
  get pathNodes(): number {
    if (this.ringRows !== null) return this.ringRows.live
    return this.kernel.nodeCount()
  }

  /** Bytes of one partial match record in the kernel (inline 24 or 32, compact 16, full 40; kernels before compact records: 40). */
  get recordBytes(): number {
    return this.kernel.recordBytes?.() ?? RECORD_BYTES.full
  }

  /** The kernel's whole linear memory. */
  get approximateBytes(): number {
    return this.memory.buffer.byteLength
  }

  get trace(): ((entry: TraceEntry) => void) | null {
    return null
  }

  set trace(value: ((entry: TraceEntry) => void) | null) {
    if (value !== null)
      throw new Error('the WebAssembly CEP engine does not trace: explain runs the TypeScript engine')
  }

  step(
    events: ReleasedEvents,
    matches: EngineMatch[],
    _failures: { seq: number; error: unknown; site: number }[],
  ): void {
    const n = events.length
    if (n === 0) return
    this.loadInput(events, n)
    this.stepped(events, this.kernel.step(n))
    this.readRecords(matches, this.pendingTimeouts)
  }

  /**
   * Copies the released events into the kernel's input columns, which it first makes room for
   * `rows` rows in (stepSegments also puts one row per segment there).
   */
  private loadInput(events: ReleasedEvents, rows: number): void {
    const n = events.length
    if (rows > this.kernel.inputCapacity()) this.kernel.reserveInput(rows)
    this.refreshInputViews()
    this.inKeyIds.set(events.keyIds.length === n ? events.keyIds : events.keyIds.subarray(0, n))
    this.inMasks.set(events.masks.length === n ? events.masks : events.masks.subarray(0, n))
    this.inTimes.set(events.times.length === n ? events.times : events.times.subarray(0, n))
    this.inSeqs.set(events.seqs.length === n ? events.seqs : events.seqs.subarray(0, n))
  }

  /** After the kernel stepped `events` up to `done`: all of them, or it stopped at an unknown key id. */
  private stepped(events: ReleasedEvents, done: number): void {
    if (done !== events.length)
      throw new RangeError(`released event ${done} has an invalid key id ${events.keyIds[done]}`)
    this.takeRows(events.rows)
  }

  /** Rows first (this call's matches may hold this batch's events), then the records. */
  private takeRows(batchRows: readonly unknown[]): void {
    const kernel = this.kernel
    const takenCount = kernel.takenCountOf()
    this.keepRows(
      new Int32Array(this.memory.buffer, kernel.takenPtr(), 2 * takenCount),
      takenCount,
      batchRows,
    )
  }

  /**
   * Keeps the rows of the events the kernel took in its last call: pairs (reference, index into
   * `rows`), a reference being a path node's number or, with inline records, a ring entry's index.
   */
  private keepRows(pairs: Int32Array, count: number, rows: readonly unknown[]): void {
    const ringRows = this.ringRows
    if (ringRows !== null) {
      ringRows.follow()
      for (let i = 0; i < 2 * count; i += 2) ringRows.set(pairs[i]!, rows[pairs[i + 1]!])
      ringRows.end()
      return
    }
    const nodeRows = this.rows
    for (let i = 0; i < 2 * count; i += 2) nodeRows[pairs[i]!] = rows[pairs[i + 1]!]
  }

  stepSegments(
    events: ReleasedEvents,
    ends: Int32Array,
    watermarks: Float64Array,
    count: number,
    out: SegmentOutputs,
    emptyChecks: Uint8Array,
  ): void {
    const kernel = this.kernel
    const stepSegments = kernel.stepSegments
    if (stepSegments === undefined || kernel.inputEmptyChecks === undefined || count === 0) {
      stepSegmentsOneByOne(this, events, ends, watermarks, count, out, emptyChecks)
      return
    }
    const n = events.length
    this.loadInput(events, Math.max(n, count))
    this.inSegmentEnds.set(ends.length === count ? ends : ends.subarray(0, count))
    this.inSegmentWatermarks.set(watermarks.length === count ? watermarks : watermarks.subarray(0, count))
    const checks = this.inEmptyChecks
    for (let i = 0; i < n; i++) checks[i] = emptyChecks[i]!
    this.stepped(events, stepSegments(n, count))
    const checked = new Int32Array(this.memory.buffer, kernel.inputEmptyChecks(), n)
    for (let i = 0; i < n; i++) emptyChecks[i] = checked[i]!
    // Per segment as step then advanceTime hand them out: the step's matches, then the advance's;
    // the timeouts found while stepping wait for the segment's advance, and come before its own.
    const buffer = this.memory.buffer
    const cap = kernel.inputCapacity()
    const stepOut = new Uint32Array(buffer, (kernel.segmentStepOut as () => number)(), cap)
    const advanceOut = new Uint32Array(buffer, (kernel.segmentAdvanceOut as () => number)(), cap)
    let at = 0
    for (let j = 0; j < count; j++) {
      const stepped = stepOut[j]!
      const advanced = advanceOut[j]!
      if (stepped > at) this.readRecords(out.matches, this.pendingTimeouts, at, stepped)
      for (const t of this.pendingTimeouts) out.timeouts.push(t)
      this.pendingTimeouts = []
      if (advanced > stepped) this.readRecords(out.matches, out.timeouts, stepped, advanced)
      at = advanced
      out.matchEnds.push(out.matches.length)
      out.timeoutEnds.push(out.timeouts.length)
      out.failureEnds.push(out.failures.length)
    }
  }

  advanceTime(watermark: number, matches: EngineMatch[], timeouts: EngineMatch[] | null): void {
    if (timeouts !== null) for (const t of this.pendingTimeouts) timeouts.push(t)
    this.pendingTimeouts = []
    this.kernel.advanceTime(watermark)
    this.readRecords(matches, timeouts)
  }

  nextDue(): number {
    const nextDue = this.kernel.nextDue
    if (nextDue === undefined)
      throw new Error('this CEP kernel predates nextDue: rebuild it (npm run build:wasm)')
    return nextDue()
  }

  keyIsEmpty(keyId: number): boolean {
    return this.kernel.keyIsEmpty(keyId) === 1
  }

  snapshot(): Uint8Array {
    const kernel = this.kernel
    const buffer = this.memory.buffer
    const regions: Uint8Array[] = []
    for (let r = 0; r < kernel.regionCount(); r++)
      regions.push(new Uint8Array(buffer, kernel.regionPtr(r), kernel.regionUsed(r)).slice())
    const meta = new Float64Array(buffer, kernel.saveMeta(), kernel.metaWords()).slice()
    // The rows of live nodes: a node is referred to (by a partial match or a later node) while it lives.
    // With inline records, the rows of the ring's live entries, by index.
    const rows: [number, unknown][] = this.ringRows !== null ? this.ringRows.entries() : []
    const nodeWords = new Int32Array(buffer, kernel.nodesPtr(), kernel.regionUsed(NODES_REGION) >> 2)
    for (let node = 0; node < nodeWords.length / (NODE_BYTES >> 2); node++)
      if (nodeWords[(node * NODE_BYTES + NODE_REFS_OFFSET) >> 2]! > 0) rows.push([node, this.rows[node]])
    return serialize({
      engine: SNAPSHOT_ENGINE,
      version: SNAPSHOT_VERSION,
      recordLayout: this.layout,
      tables: this.flat,
      skip: this.skip,
      regions,
      meta,
      rows,
      pendingTimeouts: this.pendingTimeouts,
    })
  }

  restore(bytes: Uint8Array): void {
    const state = deserialize(bytes) as {
      engine?: string
      version: number
      recordLayout?: RecordLayout
      tables: FlatNfa
      skip: { code: number; step: number }
      regions: Uint8Array[]
      meta: Float64Array
      rows: [number, unknown][]
      pendingTimeouts: EngineMatch[]
    }
    const fullRecords = state.version === SNAPSHOT_VERSION_FULL_RECORDS
    const noGenerations = fullRecords || state.version === SNAPSHOT_VERSION_NO_GENERATIONS
    const known =
      state.version === SNAPSHOT_VERSION || state.version === SNAPSHOT_VERSION_PATH_NODES || noGenerations
    if (state.engine !== SNAPSHOT_ENGINE || !known)
      throw new Error(
        'not a snapshot of the WebAssembly CEP engine of a version this runtime reads (a TypeScript engine snapshot restores into that engine only)',
      )
    // The records it holds: version 4 full ones (compacted below when the pattern admits compact
    // ones), else the snapshot's, which the pattern must admit (a pattern of the inline class
    // admits compact records too: version 5 and 6 snapshots have them).
    const pathNodeLayout = this.patternLayout === 'inline' ? 'compact' : this.patternLayout
    const restoredLayout = fullRecords ? pathNodeLayout : state.recordLayout
    const admitted = restoredLayout === this.patternLayout || restoredLayout === pathNodeLayout
    if (
      JSON.stringify(state.tables) !== JSON.stringify(this.flat) ||
      state.skip.code !== this.skip.code ||
      state.skip.step !== this.skip.step ||
      !admitted ||
      (restoredLayout === 'inline' && this.ring === null)
    )
      throw new Error('the CEP kernel snapshot was taken for another pattern')
    this.layout = restoredLayout as RecordLayout
    this.configure()
    const kernel = this.kernel
    state.regions.forEach((bytes, r) => {
      if (bytes.length > 0) kernel.reserveRegion(r, bytes.length)
    })
    const buffer = this.memory.buffer
    state.regions.forEach((bytes, r) => {
      new Uint8Array(buffer, kernel.regionPtr(r), bytes.length).set(bytes)
    })
    // (Snapshots before version 7 have fewer meta words: the ring's, which they leave alone.)
    const meta = new Float64Array(buffer, kernel.metaAddress(), kernel.metaWords())
    meta.fill(0)
    meta.set(state.meta.subarray(0, meta.length))
    kernel.loadMeta()
    if (fullRecords && this.layout === 'compact') {
      if (kernel.compactFullRecords === undefined)
        throw new Error('this CEP kernel predates compact records: rebuild it (npm run build:wasm)')
      kernel.compactFullRecords()
    }
    if (noGenerations) {
      if (kernel.stampTimerGenerations === undefined)
        throw new Error('this CEP kernel predates timer generations: rebuild it (npm run build:wasm)')
      kernel.stampTimerGenerations()
    }
    const ring = this.ring
    if (this.layout === 'inline' && ring !== null) {
      const ringRows = new KernelRing(ring)
      for (const [index, row] of state.rows) ringRows.set(index, row)
      this.ringRows = ringRows
    } else for (const [node, row] of state.rows) this.rows[node] = row
    this.pendingTimeouts = state.pendingTimeouts
  }

  takeChangedKeys(): ArrayLike<number> {
    const n = this.kernel.takeDirty()
    return new Int32Array(this.memory.buffer, this.kernel.dirtyPtr(), n).slice()
  }

  exportKey(keyId: number): KeyMatches | null {
    const kernel = this.kernel
    const bytes = kernel.exportKey(keyId)
    if (bytes === 0) return null
    const base = kernel.outputPtr()
    // Views of the whole memory, indexed from the output's start (8-aligned): two views per key
    // were a good part of a checkpoint that exports nearly every key.
    const { words, doubles } = this.memoryViews()
    const w0 = base >> 2
    const nodes = words[w0]!
    const partials = words[w0 + 1]!
    const held = words[w0 + 2]!
    const x = this.scratch(nodes, partials * PARTIAL_FIELDS, held * HELD_FIELDS)
    const { steps, previous, times, seqs } = x
    const rows = this.exportArrays.rows
    const ringRows = this.ringRows
    for (let i = 0; i < nodes; i++) {
      const w = w0 + ((X_HEADER + i * X_NODE) >> 2)
      steps[i] = words[w]!
      previous[i] = words[w + 1]!
      rows[i] = ringRows !== null ? ringRows.get(words[w + 2]!) : this.rows[words[w + 2]!]
      times[i] = doubles[(w >> 1) + 2]!
      seqs[i] = doubles[(w >> 1) + 3]!
    }
    const statesAt = X_HEADER + nodes * X_NODE
    const partialFields = x.partials
    const heldFields = x.held
    for (let i = 0; i < partials + held; i++) {
      const w = w0 + ((statesAt + i * X_STATE) >> 2)
      const d = w >> 1
      const out = i < partials ? partialFields : heldFields
      let at = i < partials ? i * PARTIAL_FIELDS : (i - partials) * HELD_FIELDS
      out[at++] = words[w]!
      out[at++] = words[w + 1]!
      out[at++] = doubles[d + 1]!
      out[at++] = doubles[d + 2]!
      out[at++] = doubles[d + 3]!
      if (i >= partials) out[at] = doubles[d + 4]!
    }
    return x
  }

  private memoryWords = new Int32Array(0)
  private memoryDoubles = new Float64Array(0)

  /** Int32 and Float64 views of the whole linear memory, made again when it has grown. */
  private memoryViews(): { words: Int32Array; doubles: Float64Array } {
    const buffer = this.memory.buffer
    if (this.memoryWords.buffer !== buffer) {
      this.memoryWords = new Int32Array(buffer)
      this.memoryDoubles = new Float64Array(buffer)
    }
    return { words: this.memoryWords, doubles: this.memoryDoubles }
  }

  /** exportKey's arrays, reused from call to call (a checkpoint exports every changed key). */
  private exportArrays = {
    ints: new Int32Array(256),
    nums: new Float64Array(512),
    rows: [] as unknown[],
  }

  /**
   * exportKey's views of its arrays by shape (nodes, partial and held numbers): a checkpoint
   * exports nearly every key, whose shapes are few, and six views per key were a fifth of it.
   */
  private exportViews = new Map<number, KeyMatches>()

  private scratch(nodes: number, partialNumbers: number, heldNumbers: number): KeyMatches {
    const a = this.exportArrays
    const shape = nodes < 1024 && partialNumbers < 1024 && heldNumbers < 1024
    const key = nodes + partialNumbers * 1024 + heldNumbers * 1024 * 1024
    a.rows.length = nodes
    if (shape) {
      const known = this.exportViews.get(key)
      if (known !== undefined) return known
    }
    const numbers = 2 * nodes + partialNumbers + heldNumbers
    if (a.ints.length < 2 * nodes || a.nums.length < numbers) {
      if (a.ints.length < 2 * nodes) a.ints = new Int32Array(Math.max(2 * nodes, 2 * a.ints.length))
      if (a.nums.length < numbers) a.nums = new Float64Array(Math.max(numbers, 2 * a.nums.length))
      this.exportViews.clear()
    }
    const views: KeyMatches = {
      steps: a.ints.subarray(0, nodes),
      previous: a.ints.subarray(nodes, 2 * nodes),
      times: a.nums.subarray(0, nodes),
      seqs: a.nums.subarray(nodes, 2 * nodes),
      partials: a.nums.subarray(2 * nodes, 2 * nodes + partialNumbers),
      held: a.nums.subarray(2 * nodes + partialNumbers, numbers),
      rows: a.rows,
    }
    if (shape) this.exportViews.set(key, views)
    return views
  }

  importKey(keyId: number, matches: KeyMatches): void {
    const kernel = this.kernel
    const nodes = matches.steps.length
    const partials = matches.partials.length / PARTIAL_FIELDS
    const held = matches.held.length / HELD_FIELDS
    const statesAt = X_HEADER + nodes * X_NODE
    kernel.reserveStaging(statesAt + (partials + held) * X_STATE)
    let buffer = this.memory.buffer
    let base = kernel.outputPtr()
    let words = new Int32Array(buffer, base, (statesAt + (partials + held) * X_STATE) >> 2)
    const doubles = new Float64Array(buffer, base, words.length >> 1)
    words[0] = nodes
    words[1] = partials
    words[2] = held
    words[3] = 0
    for (let i = 0; i < nodes; i++) {
      const w = (X_HEADER + i * X_NODE) >> 2
      words[w] = matches.steps[i]!
      words[w + 1] = matches.previous[i]!
      words[w + 2] = -1
      words[w + 3] = 0
      doubles[(w >> 1) + 2] = matches.times[i]!
      doubles[(w >> 1) + 3] = matches.seqs[i]!
    }
    for (let i = 0; i < partials + held; i++) {
      const w = (statesAt + i * X_STATE) >> 2
      const d = w >> 1
      const fields = i < partials ? matches.partials : matches.held
      const at = i < partials ? i * PARTIAL_FIELDS : (i - partials) * HELD_FIELDS
      words[w] = fields[at]!
      words[w + 1] = fields[at + 1]!
      doubles[d + 1] = fields[at + 2]!
      doubles[d + 2] = fields[at + 3]!
      doubles[d + 3] = fields[at + 4]!
      doubles[d + 4] = i < partials ? 0 : fields[at + 5]!
    }
    kernel.importKey(keyId)
    // The kernel wrote each node's new number into its record (its memory may have moved).
    buffer = this.memory.buffer
    base = kernel.outputPtr()
    words = new Int32Array(buffer, base, (X_HEADER + nodes * X_NODE) >> 2)
    // (Each node became a ring entry with inline records: the number is its index.)
    const pairs = new Int32Array(2 * nodes)
    for (let i = 0; i < nodes; i++) {
      pairs[2 * i] = words[((X_HEADER + i * X_NODE) >> 2) + 2]!
      pairs[2 * i + 1] = i
    }
    this.keepRows(pairs, nodes, matches.rows)
  }

  /**
   * Turns the kernel's output records (those between bytes `from` and `to`; default all) into
   * matches (and timeouts, when wanted).
   */
  private readRecords(
    matches: EngineMatch[],
    timeouts: EngineMatch[] | null,
    from = 0,
    to = this.kernel.outputBytes(),
  ): void {
    const kernel = this.kernel
    const bytes = to
    if (bytes <= from) return
    const buffer = this.memory.buffer
    const base = kernel.outputPtr()
    const words = new Int32Array(buffer, base, bytes >> 2)
    const doubles = new Float64Array(buffer, base, bytes >> 3)
    const nodeDoubles = new Float64Array(buffer, kernel.nodesPtr())
    const rows = this.rows
    // Inline records: the references are ring indices (the entry's seq is in the ring).
    const ringRows = this.ringRows
    const ringDoubles = ringRows !== null ? new Float64Array(buffer, ringRows.ptr) : null
    const ringMask = ringRows !== null ? ringRows.mask : 0
    let w = from >> 2
    while (w < words.length) {
      const kind = words[w]!
      const keyId = words[w + 1]!
      const count = words[w + 2]!
      const time = doubles[(w >> 1) + 2]!
      const want = kind === RECORD_TIMEOUT ? timeouts : matches
      if (want !== null) {
        const steps: number[] = new Array(count)
        const matched: unknown[] = new Array(count)
        const seqs: number[] = new Array(count)
        for (let i = 0; i < count; i++) {
          const step = words[w + 6 + 2 * i]!
          const node = words[w + 7 + 2 * i]!
          steps[i] = step
          if (ringDoubles !== null) {
            matched[i] = (ringRows as KernelRing).get(node)
            seqs[i] = ringDoubles[((node & ringMask) * RING_ENTRY_BYTES + RING_SEQ_OFFSET) >> 3]!
            continue
          }
          matched[i] = rows[node]
          seqs[i] = nodeDoubles[(node * NODE_BYTES + NODE_SEQ_OFFSET) >> 3]!
        }
        want.push({ keyId, steps, rows: matched, seqs, time })
      }
      w += 6 + 2 * count
    }
  }

  private refreshInputViews(): void {
    const kernel = this.kernel
    const buffer = this.memory.buffer
    const version = kernel.layoutVersion()
    if (buffer === this.viewBuffer && version === this.viewVersion) return
    const cap = kernel.inputCapacity()
    this.inKeyIds = new Int32Array(buffer, kernel.inputKeyIds(), cap)
    this.inMasks = new Uint32Array(buffer, kernel.inputMasks(), cap)
    this.inTimes = new Float64Array(buffer, kernel.inputTimes(), cap)
    this.inSeqs = new Float64Array(buffer, kernel.inputSeqs(), cap)
    if (kernel.inputSegmentEnds !== undefined && kernel.inputSegmentWatermarks !== undefined) {
      this.inSegmentEnds = new Int32Array(buffer, kernel.inputSegmentEnds(), cap)
      this.inSegmentWatermarks = new Float64Array(buffer, kernel.inputSegmentWatermarks(), cap)
    }
    if (kernel.inputEmptyChecks !== undefined) {
      this.inEmptyChecks = new Int32Array(buffer, kernel.inputEmptyChecks(), cap)
    }
    this.viewBuffer = buffer
    this.viewVersion = version
  }
}
