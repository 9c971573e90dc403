// The CEP pattern engine as a kernel (AssemblyScript, compiled by wasm/build.ts): it steps the NFA
// of runtime/cep/nfa-types.ts (flattened into linear memory by wasm/host/cep-kernel.ts) over
// columnar batches of released events, with the stepping rules of the TypeScript engine
// (runtime/cep/nfa.ts), which are Flink CEP's (NFA.computeNextStates, createDecisionGraph,
// advanceTime, processMatchesAccordingToSkipStrategy).
//
// Conditions are not evaluated here: the host passes, per event, the bitmask of every step's
// event-local condition (bit s) and `until` (bit 16 + s). An edge's guard is a disjunction of
// terms (mustSet, mustClear) over that mask, so the kernel serves patterns whose conditions are
// all event-local.
//
// State, all in this module's memory (indices, never pointers, so regions can move):
//   keys    per key id: the offset of the key's block
//   blocks  one block per key (64-byte aligned, sized in powers of two from one cache line): a
//           header (partial match count, the completed matches that wait for an earlier partial
//           match (skip strategies) in emission order (first event, then their events: decision
//           0024), the earliest time a partial match expires, the expiry of its latest timer),
//           then the key's partial matches as an array of records in start order (NFA state,
//           path node, start time and seq, previous event's time, expiry). One event of a key
//           reads one run of adjacent cache lines, not a list of records spread over a pool (the
//           time per event was cache misses: decision 0032). A block that fills moves to one
//           twice its size; freed blocks wait in a free list per size.
//   states  computation states (Flink's ComputationState) in flight: an event's successors, the
//           completed matches held by a key; pooled with a free list
//   nodes   the arena of path nodes (step, previous node, reference count, the event's time and
//           seq): branches share the prefix of their paths; a node dies when no state or node
//           refers to it. The host keeps the taken event's row under the node's number (the call
//           lists the nodes it created with their event's index in the batch) and forgets it when
//           the node is reported released (nodes released during a call are reused only from the
//           next call on, so the host can still read the matches of this call)
//   timers  (expiry, key) entries in a FIFO (those that come in order) and a min-heap (the rest),
//           so advanceTime visits only the keys with something to expire ("timers" below)
//   out     records of this call: kind (0 match, 1 timeout), key id, event count, time, then
//           (step, node) per event; between calls, also the staging area of exportKey/importKey
//   dirty   the keys whose partial or held matches changed since the host last took them
//           (incremental snapshots write only those; the key record's flag says it is listed)
//   scratch an event's new partial matches of its key from the first one that changed (copied
//           back into the key's block at the end of the event)
//   ring    (inline records only: patterns of a bounded number of events with a whole-pattern
//           `within`) the taken events in arrival order (time, seq, latest start of a partial
//           match that took it); such a pattern's records hold their events' ring indices and it
//           has no path nodes. Entries leave the front once the watermark shows that every partial
//           match holding them expired (decision 0032, addendum of 19:40)
//
// Memory: config (fixed at init) then the growable regions in a fixed order. A region grows by
// doubling; the regions above it move up (memory.copy from the last down, so nothing is
// overwritten). Every move bumps layoutVersion(); the host re-reads the pointers then.

const TAKE: i32 = 0
const IGNORE: i32 = 1
const PROCEED: i32 = 2

const K_FINAL: i32 = 2
const K_STOP: i32 = 3
const K_PENDING: i32 = 4

const SKIP_NONE: i32 = 0
const SKIP_TO_NEXT: i32 = 1
const SKIP_PAST_LAST: i32 = 2
const SKIP_TO_FIRST: i32 = 3
const SKIP_TO_LAST: i32 = 4

const REC_MATCH: i32 = 0
const REC_TIMEOUT: i32 = 1

// Drop counters (index into drops).
const DROP_TIMEOUT: i32 = 0
const DROP_BUDGET: i32 = 1
const DROP_SKIP: i32 = 2
const DROP_NEGATION: i32 = 3
const DROP_NO_CONTINUATION: i32 = 4

// Regions.
const R_IN: i32 = 0
const R_KEYS: i32 = 1
const R_CS: i32 = 2
const R_NODES: i32 = 3
const R_TAKEN: i32 = 4
const R_OUT: i32 = 5
const R_REL: i32 = 6
const R_HEAP: i32 = 7
const R_FIFO: i32 = 8
const R_DIRTY: i32 = 9
const R_BLOCKS: i32 = 10
const R_SCRATCH: i32 = 11
const R_RING: i32 = 12
const REGIONS: i32 = 13

// A key's block: a 40-byte header, then partial match records of 40 bytes, or 16 (compact).
const BLOCK_HEADER: usize = 40
const PM_FULL_BYTES: usize = 40
// Compact records (decision 0032, addendum): NFA state, path node, start time. The host's
// analysis (wasm/host/cep-record-layout.ts) chooses them when no state has a step window and
// there is no skip strategy: then a partial match's expiry is its start plus the pattern's
// `within`, its last event's time is its newest node's, and its start seq (read only to order
// matches that started at the same time) is its oldest node's.
const PM_COMPACT_BYTES: usize = 16
// Inline records (decision 0032, addendum of 19:40): NFA state, the events' count and steps
// (4 bits each), start time, then the ring index of each event (2 or 4 slots: 24 or 32 bytes).
// The host's analysis chooses them for compact patterns with a whole-pattern `within` whose
// computation states never hold more than INLINE_MAX_EVENTS events (no unbounded quantifier):
// then a partial match needs no path nodes, and the taken events live in the ring ("ring" below).
const INLINE_MAX_EVENTS: i32 = 4
// A computation state of an inline pattern keeps its events where the node, start seq and last
// time are otherwise (those come from the ring): 8 meta, 24 … 36 four ring indices.
const CS_INLINE_META: usize = 8
const CS_INLINE_EVENTS: usize = 24
// A ring entry: time f64, seq f64, the latest start of a partial match that took it f64.
const RING_ENTRY_BYTES: usize = 24
const RING_FIRST_CAP: u32 = 512
// Block sizes are 64 << class bytes; class 23 is 512 MiB.
const BLOCK_CLASSES: i32 = 24
const NO_BLOCK: u32 = 0xffffffff
const CS_BYTES: usize = 48
const NODE_BYTES: usize = 32
const TIMER_BYTES: usize = 16
// Input: keyIds i32, masks u32, segment ends i32, times f64, seqs f64, then per segment of a
// stepSegments call its watermark f64 and the output bytes after its step and after its advance
// (u32 each), then per event whether its key is checked for emptiness after its segment (i32).
// Segments never outnumber the capacity (the host reserves for the larger count).
const IN_BYTES: usize = 48

const STATE_BYTES: usize = 24
const EDGE_BYTES: usize = 20
const TERM_BYTES: usize = 8
const SCRATCH_ENTRIES: i32 = 1024
// Scalars saved with a snapshot: 17 counters, the blocks' top, a free list head per block size,
// then (inline records) the ring's head, tail and capacity.
const META_RING: i32 = 18 + BLOCK_CLASSES
const META_USED: i32 = META_RING + 3
const META_WORDS: i32 = 48

// ---- configuration ----
let stateCount: i32 = 0
let startState: i32 = 0
let windowMs: f64 = Infinity
let skipKind: i32 = 0
let skipStep: i32 = -1
let maxPerKey: i32 = 0x7fffffff
let maxTotal: i32 = 0x7fffffff
// Whether timed-out partial matches are written out (the step has a `timeout into`).
let reportTimeouts: bool = true
// Whether partial match records are compact (PM_COMPACT_BYTES), and their size.
let compactRecords: bool = false
// Whether partial match records hold their events inline (no path nodes), and how many.
let inlineEvents: bool = false
let inlineSlots: i32 = 0
// Whether a record's expiry is its start plus the pattern's `within` (compact and inline records).
let derivedExpiry: bool = false
let pmBytes: usize = PM_FULL_BYTES

let statesPtr: usize = 0
let edgesPtr: usize = 0
let termsPtr: usize = 0
let stackPtr: usize = 0
let outEdgesPtr: usize = 0

// Decision cache: an event's outgoing edges from a state depend only on the state and the mask's
// bits that any condition reads (when no state has a step window), so they are computed once per
// (state, compressed mask) and reused. Entries: 0 unknown, else ((outN << 1) | proceeded) + 1, or
// -1 when the decision has too many edges to cache; final-after-proceed: 0 unknown, else final + 2.
const CACHE_MAX_STATES: i32 = 64
const CACHE_MAX_BITS: i32 = 8
const CACHE_MAX_OUT: i32 = 8
let cacheBytes: usize = 0
// Per (state, packed mask), after the cache's edge lists: what a partial match there does (0
// unknown, HOW_STAYS, HOW_GENERAL, HOW_ADVANCES). Most partial matches only ignore most events
// (they wait for a later step); stepEvent keeps those in place without the call of computeNext
// and its decision. An inline record whose one successor is a take into a state that is neither
// final nor a stop (`small` after `small` waiting for a second one) is advanced in place: it keeps
// its start, so its place, its expiry and its timer (advanceRecord). After those bytes
// (advancePtr), per (state, packed mask), a u32: the take's target state | its step << 16.
let staysPtr: usize = 0
let advancePtr: usize = 0
const HOW_STAYS: u8 = 1
const HOW_GENERAL: u8 = 2
const HOW_ADVANCES: u8 = 3
// The same for the start state, per packed mask (it has no record: its take appends one,
// startRecord): 0 unknown, HOW_STAYS (nothing starts), HOW_GENERAL, HOW_ADVANCES; then the
// take's target and step per packed mask.
const startHow: usize = memory.data(1 << CACHE_MAX_BITS)
const startAdvance: usize = memory.data(4 << CACHE_MAX_BITS)
let cachePtr: usize = 0
let cacheReady: bool = false
let cacheOn: bool = false
let cacheBits: i32 = 0
let cacheMaskBits: u32 = 0
// Whether cacheMaskBits are bits 0 … cacheBits-1 (then the packed index is the masked mask).
let cacheMaskLow: bool = false
let curIdx: i32 = 0
let metaPtr: usize = 0
let regionTable: usize = 0
let regionsStart: usize = 0
let layoutEnd: usize = 0
let version: i32 = 0

// ---- region bases (mirrors of the region table) ----
let inBase: usize = 0
let inCap: i32 = 0
let keysBase: usize = 0
let csBase: usize = 0
let nodesBase: usize = 0
let takenBase: usize = 0
let outBase: usize = 0
let relBase: usize = 0
let heapBase_: usize = 0
let fifoBase: usize = 0
let dirtyBase: usize = 0
let blocksBase: usize = 0
let scratchBase: usize = 0
let ringBase: usize = 0

// ---- dynamic state ----
let keyCount: i32 = 0
let csTop: i32 = 0
let csFree: i32 = -1
let nodeTop: i32 = 0
let nodeFree: i32 = -1
let takenCount: i32 = 0
let heapSize: i32 = 0
let fifoHead: i32 = 0
let fifoTail: i32 = 0
let relCount: i32 = 0
let dirtyCount: i32 = 0
let blockTop: usize = 0
// Free blocks by class: the offset of the first (NO_BLOCK: none); a free block's first word links the next.
const blockFree: usize = memory.data(BLOCK_CLASSES << 2)
let outUsed: usize = 0
let totalPartials: i32 = 0
let totalNodes: i32 = 0
let dropTimeout: f64 = 0
let dropBudget: f64 = 0
let dropSkip: f64 = 0
let dropNegation: f64 = 0
let dropNoContinuation: f64 = 0
// The ring of taken events (inline records): entries [ringHead, ringTail) live, numbered by a
// counter that wraps at 2^32 (slot: index & (ringCap - 1)); [ringFloor, ringHead) were dropped in
// this call but this call's output records may still name them, so their slots wait for the next.
let ringHead: u32 = 0
let ringTail: u32 = 0
let ringFloor: u32 = 0
let ringCap: u32 = RING_FIRST_CAP

// ---- per-event scratch ----
// The key being stepped (its new partial matches arm its timers).
let curKey: i32 = 0
// The index in the batch of the event being stepped.
let curEvent: i32 = 0
let resHead: i32 = -1
let resTail: i32 = -1

export function heapBase(): usize {
  return __heap_base
}

@inline
function align16(n: usize): usize {
  return (n + 15) & ~(<usize>15)
}

// Regions start on cache lines (so do the blocks in them).
@inline
function align64(n: usize): usize {
  return (n + 63) & ~(<usize>63)
}

function ensureMemory(end: usize): void {
  const have = (<usize>memory.size()) << 16
  if (end <= have) return
  const pages = <i32>((end - have + 0xffff) >> 16)
  if (memory.grow(pages) < 0) abort('cep kernel: out of memory')
}

@inline
function regionPtrOf(r: i32): usize {
  return <usize>load<u32>(regionTable + (<usize>r << 3))
}

@inline
function regionCapOf(r: i32): usize {
  return <usize>load<u32>(regionTable + (<usize>r << 3), 4)
}

function refreshBases(): void {
  inBase = regionPtrOf(R_IN)
  inCap = <i32>(regionCapOf(R_IN) / IN_BYTES)
  keysBase = regionPtrOf(R_KEYS)
  csBase = regionPtrOf(R_CS)
  nodesBase = regionPtrOf(R_NODES)
  takenBase = regionPtrOf(R_TAKEN)
  outBase = regionPtrOf(R_OUT)
  relBase = regionPtrOf(R_REL)
  heapBase_ = regionPtrOf(R_HEAP)
  fifoBase = regionPtrOf(R_FIFO)
  dirtyBase = regionPtrOf(R_DIRTY)
  blocksBase = regionPtrOf(R_BLOCKS)
  scratchBase = regionPtrOf(R_SCRATCH)
  ringBase = regionPtrOf(R_RING)
}

/** Makes region r at least `bytes` long (doubling); the regions above it move up. */
function growRegion(r: i32, bytes: usize): void {
  const oldCap = regionCapOf(r)
  if (bytes <= oldCap) return
  let cap = oldCap << 1
  while (cap < bytes) cap <<= 1
  let p = regionsStart
  for (let i: i32 = 0; i < REGIONS; i++) {
    const c = i == r ? cap : regionCapOf(i)
    p += align64(c)
  }
  ensureMemory(p)
  // Move from the last region down: every region only moves up.
  let end = p
  for (let i: i32 = REGIONS - 1; i >= 0; i--) {
    const c = i == r ? cap : regionCapOf(i)
    const newPtr = end - align64(c)
    const oldPtr = regionPtrOf(i)
    if (newPtr != oldPtr) memory.copy(newPtr, oldPtr, regionCapOf(i))
    store<u32>(regionTable + (<usize>i << 3), <u32>newPtr)
    store<u32>(regionTable + (<usize>i << 3), <u32>c, 4)
    end = newPtr
  }
  layoutEnd = p
  version++
  refreshBases()
}

/**
 * Starts an engine: `states` NFA states, `edges` edges, `terms` condition terms (the host writes
 * them with setState, setEdge, setTerm), the start state, the pattern's `within` (Infinity:
 * none), the skip strategy (0 none, 1 to next, 2 past last event, 3 to first, 4 to last; `step`
 * for 3 and 4), the budget, whether timeouts are written out (0: only counted) and whether
 * partial match records are compact (1; only without a skip strategy, and setState then refuses
 * step windows). Forgets any earlier state.
 */
export function init(
  states: i32,
  edges: i32,
  terms: i32,
  start: i32,
  within: f64,
  skip: i32,
  step: i32,
  perKey: i32,
  total: i32,
  timeouts: i32,
  compact: i32,
  inline: i32,
): void {
  reportTimeouts = timeouts != 0
  inlineEvents = inline != 0
  compactRecords = compact != 0 && !inlineEvents
  derivedExpiry = compactRecords || inlineEvents
  if (derivedExpiry && skip != SKIP_NONE) abort('cep kernel: compact records under a skip strategy')
  if (inlineEvents && (inline != 2 && inline != INLINE_MAX_EVENTS)) abort('cep kernel: inline records hold 2 or 4 events')
  if (inlineEvents && !(within < Infinity)) abort('cep kernel: inline records without a within')
  inlineSlots = inline
  pmBytes = inlineEvents ? 16 + (<usize>inline << 2) : compactRecords ? PM_COMPACT_BYTES : PM_FULL_BYTES
  for (let c: i32 = 0; c < BLOCK_CLASSES; c++)
    store<i32>(blockCaps + (<usize>c << 2), <i32>((blockBytes(c) - BLOCK_HEADER) / pmBytes))
  stateCount = states
  startState = start
  windowMs = within
  skipKind = skip
  skipStep = step
  maxPerKey = perKey
  maxTotal = total
  statesPtr = align16(__heap_base)
  edgesPtr = align16(statesPtr + <usize>states * STATE_BYTES)
  termsPtr = align16(edgesPtr + <usize>edges * EDGE_BYTES)
  stackPtr = align16(termsPtr + <usize>terms * TERM_BYTES)
  outEdgesPtr = stackPtr + (<usize>SCRATCH_ENTRIES << 2)
  cachePtr = outEdgesPtr + (<usize>SCRATCH_ENTRIES << 2)
  cacheBytes =
    states <= CACHE_MAX_STATES
      ? (<usize>states << CACHE_MAX_BITS) * (13 + (<usize>CACHE_MAX_OUT << 2))
      : 0
  staysPtr = cachePtr + (<usize>states << CACHE_MAX_BITS) * (8 + (<usize>CACHE_MAX_OUT << 2))
  advancePtr = staysPtr + (<usize>states << CACHE_MAX_BITS)
  cacheReady = false
  cacheOn = false
  metaPtr = align16(cachePtr + cacheBytes)
  regionTable = metaPtr + (<usize>META_WORDS << 3)
  regionsStart = align64(regionTable + (<usize>REGIONS << 3))
  ensureMemory(regionsStart)
  let p = regionsStart
  for (let i: i32 = 0; i < REGIONS; i++) {
    let cap: usize = 16384
    if (i == R_IN) cap = IN_BYTES * 256
    if (i == R_RING) cap = <usize>RING_FIRST_CAP * RING_ENTRY_BYTES
    store<u32>(regionTable + (<usize>i << 3), <u32>p)
    store<u32>(regionTable + (<usize>i << 3), <u32>cap, 4)
    p += align64(cap)
  }
  layoutEnd = p
  ensureMemory(p)
  version++
  refreshBases()
  keyCount = 0
  csTop = 0
  csFree = -1
  nodeTop = 0
  nodeFree = -1
  takenCount = 0
  heapSize = 0
  fifoHead = 0
  fifoTail = 0
  relCount = 0
  dirtyCount = 0
  blockTop = 0
  memory.fill(blockFree, 0xff, <usize>BLOCK_CLASSES << 2)
  outUsed = 0
  totalPartials = 0
  totalNodes = 0
  dropTimeout = 0
  dropBudget = 0
  dropSkip = 0
  dropNegation = 0
  dropNoContinuation = 0
  ringHead = 0
  ringTail = 0
  ringFloor = 0
  ringCap = RING_FIRST_CAP
}

export function setState(s: i32, kind: i32, edgeStart: i32, edgeCount: i32, window: f64): void {
  if (derivedExpiry && window != Infinity) abort('cep kernel: compact records with a step window')
  const p = statesPtr + <usize>s * STATE_BYTES
  store<i32>(p, kind)
  store<i32>(p, edgeStart, 4)
  store<i32>(p, edgeCount, 8)
  store<f64>(p, window, 16)
}

export function setEdge(e: i32, action: i32, target: i32, step: i32, termStart: i32, termCount: i32): void {
  const p = edgesPtr + <usize>e * EDGE_BYTES
  store<i32>(p, action)
  store<i32>(p, target, 4)
  store<i32>(p, step, 8)
  store<i32>(p, termStart, 12)
  store<i32>(p, termCount, 16)
}

export function setTerm(t: i32, mustSet: u32, mustClear: u32): void {
  const p = termsPtr + <usize>t * TERM_BYTES
  store<u32>(p, mustSet)
  store<u32>(p, mustClear, 4)
}

// ---- accessors ----

@inline function stateKind(s: i32): i32 {
  return load<i32>(statesPtr + <usize>s * STATE_BYTES)
}
@inline function stateEdgeStart(s: i32): i32 {
  return load<i32>(statesPtr + <usize>s * STATE_BYTES, 4)
}
@inline function stateEdgeCount(s: i32): i32 {
  return load<i32>(statesPtr + <usize>s * STATE_BYTES, 8)
}
@inline function stateWindow(s: i32): f64 {
  return load<f64>(statesPtr + <usize>s * STATE_BYTES, 16)
}

/** Key k's block (its header). Any allocation may move it: call again after one. */
@inline function keyPtr(k: i32): usize {
  return blocksBase + <usize>load<u32>(keysBase + (<usize>k << 2))
}
// block header: 0 count (partial matches), 4 class, 8 generation (counts the times the key id was
// forgotten: a timer of an earlier generation is not its), 12 doneHead, 16 doneTail, 20 dirty
// (listed in the dirty region), 24 armed f64 (the expiry of its latest timer, NaN: none), 32
// minExpiry f64

/**
 * Copies `bytes` (a multiple of 8) from src to dst, where dst is below src or the two do not
 * overlap. For a few records: V8 runs memory.copy as a call out of the module, which cost more
 * than the copy itself on the per-event paths (keeping a record, expiring, the budget).
 */
@inline function copyWordsDown(dst: usize, src: usize, bytes: usize): void {
  if (bytes > 256) {
    memory.copy(dst, src, bytes)
    return
  }
  for (let o: usize = 0; o < bytes; o += 8) store<u64>(dst + o, load<u64>(src + o))
}

/** Partial match i of the block at kp. */
@inline function recPtr(kp: usize, i: i32): usize {
  return kp + BLOCK_HEADER + <usize>i * pmBytes
}
// record: 0 state, 4 node, 8 startTime f64, then (full records only) 16 startSeq f64, 24 prevTime
// f64, 32 expiry f64; compact records derive those three (recStartSeq, recPrev, recExpiry)

@inline function blockBytes(cls: i32): usize {
  return <usize>64 << cls
}

/** When the partial match whose record is at p expires. */
@inline function recExpiry(p: usize): f64 {
  return derivedExpiry ? load<f64>(p, 8) + windowMs : load<f64>(p, 32)
}

/** The time of the last event of the partial match whose record is at p (compact: one node read). */
@inline function recPrev(p: usize): f64 {
  if (inlineEvents) return ringTime(lastEvent(p + 16, load<u32>(p, 4)))
  return compactRecords ? load<f64>(nodePtr(load<i32>(p, 4)), 16) : load<f64>(p, 24)
}

/** The seq of the first event of the partial match whose record is at p (compact: a walk of its path). */
@inline function recStartSeq(p: usize): f64 {
  if (inlineEvents) return ringSeq(load<u32>(p, 16))
  return compactRecords ? pathStartSeq(load<i32>(p, 4)) : load<f64>(p, 16)
}

// ---- the ring of taken events (inline records) ----
// An inline record or computation state holds a meta word (event count in bits 0–3, the step of
// event j in bits 4 + 4j …) and the ring index of each event, oldest first. A ring entry is
// written once, when an event is first taken; nothing counts references to it: every partial
// match that holds it started at most its `maxStart`, so once the watermark passes maxStart plus
// the pattern's `within` every such partial match has expired (a live one has a timer at its
// expiry), and entries leave the ring's front by that test (dropRingFront).

@inline function ringEntry(i: u32): usize {
  return ringBase + <usize>(i & (ringCap - 1)) * RING_ENTRY_BYTES
}
@inline function ringTime(i: u32): f64 {
  return load<f64>(ringEntry(i))
}
@inline function ringSeq(i: u32): f64 {
  return load<f64>(ringEntry(i), 8)
}
/** Notes that a partial match that started at `start` holds entry i. */
@inline function ringHold(i: u32, start: f64): void {
  const p = ringEntry(i)
  if (load<f64>(p, 16) < start) store<f64>(p, start, 16)
}
@inline function metaCount(meta: u32): i32 {
  return <i32>(meta & 15)
}
/** The meta word of an event list (meta: 0 for none) with one more event, taken at `step`. */
@inline function metaTaking(meta: u32, step: u32): u32 {
  return (meta + 1) | (step << (4 + (<u32>metaCount(meta) << 2)))
}
@inline function metaStep(meta: u32, j: i32): i32 {
  return <i32>((meta >> (4 + (<u32>j << 2))) & 15)
}
/** The ring index of the newest event of an inline event list at `events` (count > 0). */
@inline function lastEvent(events: usize, meta: u32): u32 {
  return load<u32>(events + (<usize>(metaCount(meta) - 1) << 2))
}

/** Doubles the ring (entries keep their indices; an entry whose slot changes moves up by the old capacity). */
function growRing(): void {
  const old = ringCap
  growRegion(R_RING, <usize>(old << 1) * RING_ENTRY_BYTES)
  ringCap = old << 1
  for (let i = ringFloor; i != ringTail; i++) {
    if ((i & old) == 0) continue
    const from = ringBase + <usize>(i & (old - 1)) * RING_ENTRY_BYTES
    memory.copy(from + <usize>old * RING_ENTRY_BYTES, from, RING_ENTRY_BYTES)
  }
}

/** Appends an entry for an event at (t, seq); returns its index. May move the layout. */
function ringAppend(t: f64, seq: f64): u32 {
  if (ringTail - ringFloor >= ringCap) growRing()
  const i = ringTail
  const p = ringEntry(i)
  store<f64>(p, t)
  store<f64>(p, seq, 8)
  store<f64>(p, -Infinity, 16)
  ringTail = i + 1
  return i
}

/**
 * Drops the entries at the ring's front that no partial match can hold after an advance to
 * `watermark` (their slots are reused from the next call on). Entries out of time order (imports,
 * events stepped late) stop the walk early: they only keep the entries behind them a while longer.
 */
function dropRingFront(watermark: f64): void {
  while (ringHead != ringTail && load<f64>(ringEntry(ringHead), 16) + windowMs <= watermark) ringHead++
}

// The ring entry of the event being stepped (taken at most once per event, however many partial
// matches take it), or NO_ENTRY before its first take.
const NO_ENTRY: u32 = 0xffffffff
let curEntry: u32 = NO_ENTRY

/** The seq of the oldest event of the path ending at node n (a stored partial match has one). */
function pathStartSeq(n: i32): f64 {
  let x = n
  while (true) {
    const prev = load<i32>(nodePtr(x), 4)
    if (prev < 0) return load<f64>(nodePtr(x), 24)
    x = prev
  }
  return NaN
}

/** Computation state c's start seq; NaN in it (compact records) means its path's first event's. */
function csStartSeq(c: i32): f64 {
  const p = csPtr(c)
  if (inlineEvents) return ringSeq(load<u32>(p, CS_INLINE_EVENTS))
  let q = load<f64>(p, 24)
  if (isNaN(q)) {
    q = pathStartSeq(load<i32>(p, 8))
    store<f64>(p, q, 24)
  }
  return q
}

// Partial matches a block of each class holds, set by init: a table, because the record size is
// not a constant and an integer division per lookup was on every event's path (read-ahead, growth).
const blockCaps: usize = memory.data(BLOCK_CLASSES << 2)

/** Partial matches a block of class cls holds. */
@inline function blockCap(cls: i32): i32 {
  return load<i32>(blockCaps + (<usize>cls << 2))
}

/** A free block of class cls (its offset in the blocks region); may move the layout. */
function allocBlock(cls: i32): u32 {
  if (cls >= BLOCK_CLASSES) abort('cep kernel: too many partial matches for one key')
  const fp = blockFree + (<usize>cls << 2)
  const free = load<u32>(fp)
  if (free != NO_BLOCK) {
    store<u32>(fp, load<u32>(blocksBase + <usize>free))
    return free
  }
  const off = blockTop
  const end = off + blockBytes(cls)
  if (end > regionCapOf(R_BLOCKS)) growRegion(R_BLOCKS, end)
  blockTop = end
  return <u32>off
}

function freeBlock(off: u32, cls: i32): void {
  const fp = blockFree + (<usize>cls << 2)
  store<u32>(blocksBase + <usize>off, load<u32>(fp))
  store<u32>(fp, off)
}

/**
 * Moves key k to a block of class cls (keeping its header and its first `keep` partial matches);
 * may move the layout.
 */
function moveKeyBlock(k: i32, cls: i32, keep: i32): void {
  const fresh = allocBlock(cls)
  const slot = keysBase + (<usize>k << 2)
  const old = load<u32>(slot)
  const oldClass = load<i32>(blocksBase + <usize>old, 4)
  memory.copy(blocksBase + <usize>fresh, blocksBase + <usize>old, BLOCK_HEADER + <usize>keep * pmBytes)
  store<i32>(blocksBase + <usize>fresh, cls, 4)
  freeBlock(old, oldClass)
  store<u32>(slot, fresh)
}

/**
 * Moves key k to a smaller block once its partial matches fill at most the capacity of two
 * classes down (a quarter), to the class that holds twice as many: a block is sized by what the
 * key holds now, not by the most it ever held (with 100,000 cards the blocks took four times the
 * bytes of their records), and a key that shrinks and grows again moves seldom.
 */
function fitBlock(k: i32): void {
  const kp = keyPtr(k)
  const cls = load<i32>(kp, 4)
  if (cls < 3) return
  const n = load<i32>(kp)
  if (n > blockCap(cls - 2)) return
  let fit: i32 = 0
  while (blockCap(fit) < n << 1) fit++
  moveKeyBlock(k, fit, n)
}

/** Makes key k's block hold at least `need` partial matches (keeping the first `keep`). */
function reserveRecords(k: i32, need: i32, keep: i32): void {
  let cls = load<i32>(keyPtr(k), 4)
  if (need <= blockCap(cls)) return
  while (blockCap(cls) < need) {
    cls++
    if (cls >= BLOCK_CLASSES) abort('cep kernel: too many partial matches for one key')
  }
  moveKeyBlock(k, cls, keep)
}

@inline function csPtr(c: i32): usize {
  return csBase + <usize>c * CS_BYTES
}
// cs: 0 next, 4 state, 8 node, 16 startTime, 24 startSeq, 32 prevTime, 40 expiry (a match's time once final)

@inline function nodePtr(n: i32): usize {
  return nodesBase + <usize>n * NODE_BYTES
}
// node: 0 step, 4 prev, 8 refs, 16 time f64, 24 seq f64


/** Whether edge e's guard holds for an event with condition mask m. */
@inline
function edgeHolds(e: usize, m: u32): bool {
  const count = load<i32>(e, 16)
  let t = termsPtr + <usize>load<i32>(e, 12) * TERM_BYTES
  for (let i: i32 = 0; i < count; i++, t += TERM_BYTES) {
    const set = load<u32>(t)
    if ((m & set) == set && (m & load<u32>(t, 4)) == 0) return true
  }
  return false
}

// ---- pools ----

function allocCs(): i32 {
  let c = csFree
  if (c >= 0) {
    csFree = load<i32>(csPtr(c))
    return c
  }
  c = csTop
  if (<usize>(c + 1) * CS_BYTES > regionCapOf(R_CS)) growRegion(R_CS, <usize>(c + 1) * CS_BYTES)
  csTop = c + 1
  return c
}

@inline
function freeCs(c: i32): void {
  store<i32>(csPtr(c), csFree)
  csFree = c
}

function newNode(step: i32, prev: i32, t: f64, seq: f64): i32 {
  let n = nodeFree
  if (n >= 0) {
    nodeFree = load<i32>(nodePtr(n), 4)
  } else {
    n = nodeTop
    if (<usize>(n + 1) * NODE_BYTES > regionCapOf(R_NODES)) growRegion(R_NODES, <usize>(n + 1) * NODE_BYTES)
    nodeTop = n + 1
  }
  const p = nodePtr(n)
  store<i32>(p, step)
  store<i32>(p, prev, 4)
  store<i32>(p, 0, 8)
  store<f64>(p, t, 16)
  store<f64>(p, seq, 24)
  if (prev >= 0) {
    const pp = nodePtr(prev)
    store<i32>(pp, load<i32>(pp, 8) + 1, 8)
  }
  totalNodes++
  // The host keeps the event's row under the node's number.
  noteTaken(n)
  return n
}

/** Lists `ref` (a node, or a ring index) as holding the current event (the host copies its row there). */
function noteTaken(ref: i32): void {
  if (<usize>(takenCount + 1) << 3 > regionCapOf(R_TAKEN)) growRegion(R_TAKEN, <usize>(takenCount + 1) << 3)
  const tp = takenBase + (<usize>takenCount << 3)
  store<i32>(tp, ref)
  store<i32>(tp, curEvent, 4)
  takenCount++
}

/**
 * Drops one reference to node n; a node nobody refers to goes (reported released; free from the
 * next call on), and with it its reference to the previous node.
 */
function releaseNode(n: i32): void {
  while (n >= 0) {
    const p = nodePtr(n)
    const refs = load<i32>(p, 8) - 1
    store<i32>(p, refs, 8)
    if (refs > 0) return
    const prev = load<i32>(p, 4)
    totalNodes--
    if (<usize>(relCount + 1) << 2 > regionCapOf(R_REL)) growRegion(R_REL, <usize>(relCount + 1) << 2)
    store<i32>(relBase + (<usize>relCount << 2), n)
    relCount++
    n = prev
  }
}

@inline
function lockNode(n: i32): void {
  if (n >= 0) {
    const p = nodePtr(n)
    store<i32>(p, load<i32>(p, 8) + 1, 8)
  }
}

/** Frees a computation state and its reference to its path. */
function discardCs(c: i32): void {
  if (!inlineEvents) releaseNode(load<i32>(csPtr(c), 8))
  freeCs(c)
}

// ---- keys ----

function ensureKey(k: i32): void {
  if (k < keyCount) return
  const need = <usize>(k + 1) << 2
  if (need > regionCapOf(R_KEYS)) growRegion(R_KEYS, need)
  for (let i = keyCount; i <= k; i++) {
    // A key starts with a one-line block (its header): most hold a few partial matches at most.
    const off = allocBlock(0)
    store<u32>(keysBase + (<usize>i << 2), off)
    store<i32>(blocksBase + <usize>off, 0, 4)
    store<i32>(blocksBase + <usize>off, 0, 8)
    clearKey(i)
  }
  keyCount = k + 1
}

/** Empties key k's header (its block keeps its size and the key its generation). */
function clearKey(k: i32): void {
  const p = keyPtr(k)
  store<i32>(p, 0)
  store<i32>(p, -1, 12)
  store<i32>(p, -1, 16)
  store<i32>(p, 0, 20)
  store<f64>(p, NaN, 24)
  store<f64>(p, Infinity, 32)
}

/** Lists key k as changed (once until the host takes the list). */
@inline
function markDirty(k: i32): void {
  const p = keyPtr(k)
  if (load<i32>(p, 20) != 0) return
  store<i32>(p, 1, 20)
  if (<usize>(dirtyCount + 1) << 2 > regionCapOf(R_DIRTY)) growRegion(R_DIRTY, <usize>(dirtyCount + 1) << 2)
  store<i32>(dirtyBase + (<usize>dirtyCount << 2), k)
  dirtyCount++
}

// ---- timers ----

// Timers are (expiry, key, generation) entries, one per distinct expiry a partial match is
// created with (arm: a partial match that keeps its parent's expiry shares the parent's timer). An
// entry is never removed before the watermark reaches it; then advanceTime expires its key, which
// ends every partial match of the key with that expiry or an earlier one. So every live partial
// match has a timer at its expiry, and a key's timers need no re-arming.
//
// The generation is the key's when the timer was armed; keyIsEmpty (the host forgets the key and
// may give its id to another) starts a new one, and a timer of an older generation is passed over.
// Without it a reused id picked up the forgotten key's timers: the new key then expired at the
// position of such an earlier entry, so the order of different keys' outputs at one advance
// depended on which ids the host had reused (issue 14: stepping per batch reuses them later than
// per record).
//
// Most expiries are an event's time plus the pattern's `within`, pushed in event-time order: they
// go to a FIFO (appended and taken in order, sequential memory) while they come in order; the rest
// go to a min-heap. (One timer per key, re-armed after each expiry, was a heap push per expiry out
// of order: with 100,000 keys the heap's levels missed the cache at each push and pop.)

/** Arms a timer of key k at expiry e, unless it has one there. */
@inline
function arm(k: i32, e: f64): void {
  if (e == Infinity) return
  const p = keyPtr(k)
  if (load<f64>(p, 24) == e) return
  store<f64>(p, e, 24)
  timerPush(e, k, load<i32>(p, 8))
}

// A timer is 16 bytes: 0 expiry f64, 8 key i32, 12 generation i32 (key and generation move as one u64).
function timerPush(e: f64, k: i32, generation: i32): void {
  if (fifoTail > fifoHead && e < load<f64>(fifoBase + (<usize>(fifoTail - 1) << 4))) {
    heapPush(e, k, generation)
    return
  }
  if (<usize>(fifoTail + 1) << 4 > regionCapOf(R_FIFO)) {
    if (fifoHead > 0) {
      memory.copy(fifoBase, fifoBase + (<usize>fifoHead << 4), <usize>(fifoTail - fifoHead) << 4)
      fifoTail -= fifoHead
      fifoHead = 0
    }
    if (<usize>(fifoTail + 1) << 4 > regionCapOf(R_FIFO)) growRegion(R_FIFO, <usize>(fifoTail + 1) << 4)
  }
  const q = fifoBase + (<usize>fifoTail << 4)
  store<f64>(q, e)
  store<i32>(q, k, 8)
  store<i32>(q, generation, 12)
  fifoTail++
}

// The heap: 4-ary: half the levels of a binary one, and a node's four children are 64 adjacent
// bytes, so a pop (which sinks the last entry, a late expiry, to the bottom) misses the cache
// about half as often.

function heapPush(e: f64, k: i32, generation: i32): void {
  if (<usize>(heapSize + 1) * TIMER_BYTES > regionCapOf(R_HEAP))
    growRegion(R_HEAP, <usize>(heapSize + 1) * TIMER_BYTES)
  let i = heapSize++
  while (i > 0) {
    const parent = (i - 1) >> 2
    const pp = heapBase_ + <usize>parent * TIMER_BYTES
    if (load<f64>(pp) <= e) break
    const ip = heapBase_ + <usize>i * TIMER_BYTES
    store<f64>(ip, load<f64>(pp))
    store<u64>(ip, load<u64>(pp, 8), 8)
    i = parent
  }
  const ip = heapBase_ + <usize>i * TIMER_BYTES
  store<f64>(ip, e)
  store<i32>(ip, k, 8)
  store<i32>(ip, generation, 12)
}

function heapPopTop(): void {
  heapSize--
  const n = heapSize
  if (n == 0) return
  const lp = heapBase_ + <usize>n * TIMER_BYTES
  const e = load<f64>(lp)
  const keyAndGeneration = load<u64>(lp, 8)
  let i: i32 = 0
  while (true) {
    const first = 4 * i + 1
    if (first >= n) break
    const last = first + 4 < n ? first + 4 : n
    let child = first
    let cp = heapBase_ + <usize>first * TIMER_BYTES
    let best = load<f64>(cp)
    for (let c = first + 1; c < last; c++) {
      const p = heapBase_ + <usize>c * TIMER_BYTES
      const v = load<f64>(p)
      if (v < best) {
        best = v
        child = c
        cp = p
      }
    }
    if (best >= e) break
    const ip = heapBase_ + <usize>i * TIMER_BYTES
    store<f64>(ip, best)
    store<u64>(ip, load<u64>(cp, 8), 8)
    i = child
  }
  const ip = heapBase_ + <usize>i * TIMER_BYTES
  store<f64>(ip, e)
  store<u64>(ip, keyAndGeneration, 8)
}

/** When a partial match at NFA state s expires: the pattern's `within` from its first event, the state's from the previous event. */
@inline
function expiryOf(s: i32, start: f64, prev: f64): f64 {
  const a = start + windowMs
  const b = prev + stateWindow(s)
  return a < b ? a : b
}

// ---- output ----

function reserveOut(bytes: usize): void {
  if (outUsed + bytes > regionCapOf(R_OUT)) growRegion(R_OUT, outUsed + bytes)
}

/**
 * Starts a match or timeout record of `count` events at the output's end (its (step, event) pairs
 * follow at +24) and counts it in; may move the layout. Returns where it starts.
 */
function beginRecord(kind: i32, k: i32, count: i32, time: f64): usize {
  reserveOut(24 + (<usize>count << 3))
  const p = outBase + outUsed
  store<i32>(p, kind)
  store<i32>(p, k, 4)
  store<i32>(p, count, 8)
  store<f64>(p, time, 16)
  outUsed += 24 + (<usize>count << 3)
  return p
}

/** Writes a match or timeout record of the path ending at node n. */
function writeRecord(kind: i32, k: i32, n: i32, time: f64): void {
  let count: i32 = 0
  for (let x = n; x >= 0; x = load<i32>(nodePtr(x), 4)) count++
  const p = beginRecord(kind, k, count, time)
  let i = count
  for (let x = n; x >= 0; x = load<i32>(nodePtr(x), 4)) {
    i--
    const q = p + 24 + (<usize>i << 3)
    store<i32>(q, load<i32>(nodePtr(x)))
    store<i32>(q, x, 4)
  }
}

/**
 * Writes a match or timeout record of an inline event list (meta, and the ring indices at
 * `events`): the same record, with ring indices where path nodes are otherwise. `events` is read
 * before the output grows (which may move the blocks region).
 */
function writeInlineRecord(kind: i32, k: i32, meta: u32, events: usize, time: f64): void {
  const count = metaCount(meta)
  const e0 = load<u32>(events)
  const e1 = count > 1 ? load<u32>(events, 4) : 0
  const e2 = count > 2 ? load<u32>(events, 8) : 0
  const e3 = count > 3 ? load<u32>(events, 12) : 0
  const p = beginRecord(kind, k, count, time)
  for (let j: i32 = 0; j < count; j++) {
    const q = p + 24 + (<usize>j << 3)
    store<i32>(q, metaStep(meta, j))
    store<u32>(q, j == 0 ? e0 : j == 1 ? e1 : j == 2 ? e2 : e3, 4)
  }
}

/** Writes a match or timeout record of computation state c (its path, or its inline events). */
function writeCsRecord(kind: i32, k: i32, c: i32, time: f64): void {
  const p = csPtr(c)
  if (inlineEvents) writeInlineRecord(kind, k, load<u32>(p, CS_INLINE_META), p + CS_INLINE_EVENTS, time)
  else writeRecord(kind, k, load<i32>(p, 8), time)
}

// ---- stepping ----

@inline
function appendResult(c: i32): void {
  store<i32>(csPtr(c), -1)
  if (resTail < 0) resHead = c
  else store<i32>(csPtr(resTail), c)
  resTail = c
}

// The expiry of the partial match whose successors are being made (NaN: the start).
let parentExpiry: f64 = NaN

/**
 * A new computation state (its `next` unset; the reference to its path is the caller's to take):
 * `time` is its expiry, or a completed match's time.
 */
@inline
function newCs(s: i32, node: i32, start: f64, startSeq: f64, prev: f64, time: f64): i32 {
  const c = allocCs()
  const p = csPtr(c)
  store<i32>(p, s, 4)
  store<i32>(p, node, 8)
  store<f64>(p, start, 16)
  store<f64>(p, startSeq, 24)
  store<f64>(p, prev, 32)
  store<f64>(p, time, 40)
  return c
}

function addState(s: i32, node: i32, start: f64, startSeq: f64, prev: f64): void {
  const e = expiryOf(s, start, prev)
  const c = newCs(s, node, start, startSeq, prev, e)
  lockNode(node)
  appendResult(c)
  // A partial match with its parent's expiry has the parent's timer; a match needs none.
  if (e != parentExpiry) {
    const kind = stateKind(s)
    if (kind != K_FINAL && kind != K_STOP) arm(curKey, e)
  }
}

/** Stores an inline event list into the computation state at p. */
@inline
function storeCsEvents(p: usize, meta: u32, e0: u32, e1: u32, e2: u32, e3: u32): void {
  store<u32>(p, meta, CS_INLINE_META)
  store<u32>(p, e0, CS_INLINE_EVENTS)
  store<u32>(p, e1, CS_INLINE_EVENTS + 4)
  store<u32>(p, e2, CS_INLINE_EVENTS + 8)
  store<u32>(p, e3, CS_INLINE_EVENTS + 12)
}

/**
 * addState for inline records: a computation state at s holding the events (meta, e0 … e3), which
 * started at `start`.
 */
function addInlineState(s: i32, meta: u32, e0: u32, e1: u32, e2: u32, e3: u32, start: f64): void {
  const c = allocCs()
  const p = csPtr(c)
  store<i32>(p, s, 4)
  store<f64>(p, start, 16)
  storeCsEvents(p, meta, e0, e1, e2, e3)
  const e = start + windowMs
  store<f64>(p, e, 40)
  appendResult(c)
  if (e != parentExpiry) {
    const kind = stateKind(s)
    if (kind != K_FINAL && kind != K_STOP) arm(curKey, e)
  }
}

/** The time of the newest event of computation state c (a match's time). */
@inline function csLastTime(c: i32): f64 {
  const p = csPtr(c)
  if (inlineEvents) return ringTime(lastEvent(p + CS_INLINE_EVENTS, load<u32>(p, CS_INLINE_META)))
  return load<f64>(p, 32)
}

/** A final state reachable from s through PROCEED edges that hold for mask m (Flink's findFinalStateAfterProceed), or -1. */
function finalAfterProceed(s: i32, m: u32): i32 {
  let top: i32 = 0
  store<i32>(stackPtr, s)
  top = 1
  while (top > 0) {
    top--
    const cur = load<i32>(stackPtr + (<usize>top << 2))
    const first = stateEdgeStart(cur)
    const last = first + stateEdgeCount(cur)
    for (let e = first; e < last; e++) {
      const ep = edgesPtr + <usize>e * EDGE_BYTES
      if (load<i32>(ep) != PROCEED || !edgeHolds(ep, m)) continue
      const target = load<i32>(ep, 4)
      if (stateKind(target) == K_FINAL) return target
      if (top == SCRATCH_ENTRIES) abort('cep kernel: proceed closure too deep')
      store<i32>(stackPtr + (<usize>top << 2), target)
      top++
    }
  }
  return -1
}

/**
 * Tuning that changes no result (tests and benchmarks): reading ahead from `readAheadFromBytes` of
 * state (default 1 MiB; 0: always, so tests cover its loads), and whether the decision cache and
 * its stays shortcut may be used (0: every partial match takes the general path, decide per event).
 */
export function setTuning(readAheadFromBytes: f64, decisionCache: i32): void {
  readAheadMinBytes = <usize>readAheadFromBytes
  cacheAllowed = decisionCache != 0
  cacheReady = false
}
let cacheAllowed: bool = true

/** Enables the decision cache when the NFA allows it (called once, after the tables are set). */
function prepareCache(): void {
  cacheReady = true
  cacheOn = false
  if (cacheBytes == 0 || !cacheAllowed) return
  let bits: u32 = 0
  let terms: i32 = 0
  for (let s: i32 = 0; s < stateCount; s++) {
    if (stateWindow(s) != Infinity) return
    const last = stateEdgeStart(s) + stateEdgeCount(s)
    for (let e = stateEdgeStart(s); e < last; e++) {
      const ep = edgesPtr + <usize>e * EDGE_BYTES
      const end = load<i32>(ep, 12) + load<i32>(ep, 16)
      if (end > terms) terms = end
    }
  }
  for (let t: i32 = 0; t < terms; t++) {
    const tp = termsPtr + <usize>t * TERM_BYTES
    bits |= load<u32>(tp) | load<u32>(tp, 4)
  }
  if (<i32>popcnt<u32>(bits) > CACHE_MAX_BITS) return
  cacheMaskBits = bits
  cacheMaskLow = (bits & (bits + 1)) == 0
  cacheBits = <i32>popcnt<u32>(bits)
  memory.fill(cachePtr, 0, cacheBytes)
  memory.fill(startHow, 0, 1 << CACHE_MAX_BITS)
  cacheOn = true
}

/** The event's mask reduced to the bits conditions read, packed (the cache's index). */
@inline
function compressMask(m: u32): i32 {
  // The bits conditions read are usually the lowest ones (steps 0 … n-1, no `until`): no packing.
  if (cacheMaskLow) return <i32>(m & cacheMaskBits)
  let idx: i32 = 0
  let bit: i32 = 0
  let rest = cacheMaskBits
  while (rest != 0) {
    const low = rest & (0 - rest)
    if ((m & low) != 0) idx |= 1 << bit
    bit++
    rest ^= low
  }
  return idx
}

/**
 * The decision graph from `state` (Flink's createDecisionGraph): the TAKE and IGNORE edges reachable
 * through PROCEED edges that hold, written to `out` (at most `cap`). Returns (count << 1) | proceeded,
 * or -1 when there are more than `cap`.
 */
function decide(state: i32, isStart: bool, t: f64, prev: f64, m: u32, out: usize, cap: i32): i32 {
  let top: i32 = 1
  let outN: i32 = 0
  let proceeded: i32 = 0
  store<i32>(stackPtr, state)
  while (top > 0) {
    top--
    const cur = load<i32>(stackPtr + (<usize>top << 2))
    // A state a step's `within` guards is passed over once that window ran out for this partial match.
    if (!isStart && t - prev >= stateWindow(cur)) continue
    const first = stateEdgeStart(cur)
    const last = first + stateEdgeCount(cur)
    for (let e = first; e < last; e++) {
      const ep = edgesPtr + <usize>e * EDGE_BYTES
      if (!edgeHolds(ep, m)) continue
      if (load<i32>(ep) == PROCEED) {
        proceeded = 1
        if (top == SCRATCH_ENTRIES) abort('cep kernel: proceed closure too deep')
        store<i32>(stackPtr + (<usize>top << 2), load<i32>(ep, 4))
        top++
      } else {
        if (outN == cap) return -1
        store<i32>(out + (<usize>outN << 2), e)
        outN++
      }
    }
  }
  return (outN << 1) | proceeded
}

/**
 * The computation states that follow the partial match whose record is at p (0: the key's start
 * state) on an event (Flink's computeNextStates): results go to the result list, in edge order.
 * Returns true, with no results, when the only successor is the partial match itself (its state's
 * IGNORE to itself, no PROCEED followed): then it stays as it is, which spares allocating its copy
 * and touching its path.
 */
function computeNext(p: usize, t: f64, seq: f64, m: u32): bool {
  let state: i32
  let node: i32 = -1
  let start: f64 = 0
  let startSeq: f64 = 0
  let prev: f64 = 0
  // Inline records: the events (count and steps, ring indices), read before anything allocates.
  let meta: u32 = 0
  let e0: u32 = 0
  let e1: u32 = 0
  let e2: u32 = 0
  let e3: u32 = 0
  if (p == 0) {
    state = startState
    parentExpiry = NaN
  } else if (inlineEvents) {
    state = load<i32>(p)
    meta = load<u32>(p, 4)
    start = load<f64>(p, 8)
    e0 = load<u32>(p, 16)
    e1 = load<u32>(p, 20)
    if (inlineSlots > 2) {
      e2 = load<u32>(p, 24)
      e3 = load<u32>(p, 28)
    }
    parentExpiry = start + windowMs
  } else if (compactRecords) {
    // The start seq and the last event's time wait until a successor needs them (most partial
    // matches only ignore the event); no state has a step window, so the decision does not read
    // the last time.
    state = load<i32>(p)
    node = load<i32>(p, 4)
    start = load<f64>(p, 8)
    startSeq = NaN
    parentExpiry = start + windowMs
  } else {
    state = load<i32>(p)
    node = load<i32>(p, 4)
    start = load<f64>(p, 8)
    startSeq = load<f64>(p, 16)
    prev = load<f64>(p, 24)
    parentExpiry = load<f64>(p, 32)
  }
  // The start is virtual (never stored): it never ignores, and a take from it starts a match.
  const isStart = p == 0
  // The decision graph: TAKE and IGNORE edges reachable through PROCEED edges that hold.
  let decision: i32 = -1
  let list = outEdgesPtr
  if (cacheOn) {
    const key = (<usize>state << CACHE_MAX_BITS) | <usize>curIdx
    const entryPtr = cachePtr + (key << 2)
    let entry = load<i32>(entryPtr)
    const cached = cachePtr + (<usize>stateCount << (CACHE_MAX_BITS + 3)) + key * (<usize>CACHE_MAX_OUT << 2)
    if (entry == 0) {
      const d = decide(state, isStart, t, prev, m, cached, CACHE_MAX_OUT)
      entry = d < 0 ? -1 : d + 1
      store<i32>(entryPtr, entry)
    }
    if (entry > 0) {
      decision = entry - 1
      list = cached
    }
  }
  if (decision < 0) {
    decision = decide(state, isStart, t, prev, m, outEdgesPtr, SCRATCH_ENTRIES)
    if (decision < 0) abort('cep kernel: too many edges')
  }
  const outN = decision >> 1
  let stays = false
  if (outN == 1 && (decision & 1) == 0 && !isStart) {
    const ep = edgesPtr + <usize>load<i32>(list) * EDGE_BYTES
    stays = load<i32>(ep) == IGNORE && load<i32>(ep, 4) == state
  }
  if (cacheOn) noteHow(isStart, state, stays, list, outN, m)
  if (stays) return true
  if (inlineEvents) {
    nextInline(list, outN, isStart, state, meta, e0, e1, e2, e3, start, t, seq, m)
    return false
  }
  if (compactRecords && !isStart) prev = load<f64>(nodePtr(node), 16)
  for (let i: i32 = 0; i < outN; i++) {
    const ep = edgesPtr + <usize>load<i32>(list + (<usize>i << 2)) * EDGE_BYTES
    const target = load<i32>(ep, 4)
    if (load<i32>(ep) == IGNORE) {
      if (!isStart) addState(target, node, start, startSeq, prev)
      continue
    }
    const taken = newNode(load<i32>(ep, 8), node, t, seq)
    const s0 = isStart ? t : start
    const q0 = isStart ? seq : startSeq
    addState(target, taken, s0, q0, t)
    let fin: i32
    if (cacheOn) {
      const fp = cachePtr + (((<usize>target << CACHE_MAX_BITS) | <usize>curIdx) << 2) + (<usize>stateCount << (CACHE_MAX_BITS + 2))
      const known = load<i32>(fp)
      if (known != 0) fin = known - 2
      else {
        fin = finalAfterProceed(target, m)
        store<i32>(fp, fin + 2)
      }
    } else fin = finalAfterProceed(target, m)
    if (fin >= 0) addState(fin, taken, s0, q0, t)
  }
  return false
}

/**
 * Caches what a partial match at `state` (the start when isStart) does on events of this packed
 * mask, given its decision (`outN` edges at `list`): stays, advances in place (inline records, one
 * take into a state that is neither final nor a stop, no final after proceeding), or the general
 * path.
 */
function noteHow(isStart: bool, state: i32, stays: bool, list: usize, outN: i32, m: u32): void {
  let how = stays ? HOW_STAYS : HOW_GENERAL
  let info: u32 = 0
  if (isStart && outN == 0) how = HOW_STAYS
  else if (inlineEvents && outN == 1 && !stays) {
    const ep = edgesPtr + <usize>load<i32>(list) * EDGE_BYTES
    const target = load<i32>(ep, 4)
    const kind = stateKind(target)
    if (load<i32>(ep) == TAKE && kind != K_FINAL && kind != K_STOP && finalAfter(target, m) < 0) {
      how = HOW_ADVANCES
      info = <u32>target | (<u32>load<i32>(ep, 8) << 16)
    }
  }
  if (isStart) {
    store<u8>(startHow + <usize>curIdx, how)
    store<u32>(startAdvance + (<usize>curIdx << 2), info)
  } else {
    const at = (<usize>state << CACHE_MAX_BITS) | <usize>curIdx
    store<u8>(staysPtr + at, how)
    store<u32>(advancePtr + (at << 2), info)
  }
}

/** The ring entry of the event being stepped, appended (and listed as taken) at its first take. */
@inline
function takeCurrentEvent(t: f64, seq: f64): u32 {
  if (curEntry == NO_ENTRY) {
    curEntry = ringAppend(t, seq)
    noteTaken(<i32>curEntry)
  }
  return curEntry
}

/**
 * Partial match i of key k (an inline record) takes the event at step `info >> 16` into state
 * `info & 0xffff` (HOW_ADVANCES): what computeNext and classifyResults make of it, in place. Its
 * start, so its expiry and timer, stay; its place is the next new position.
 */
function advanceRecord(k: i32, i: i32, info: u32, t: f64, seq: f64): void {
  const entry = takeCurrentEvent(t, seq)
  // (After the take: listing it may move the layout.)
  let p: usize
  if (scratchFrom < 0) p = recPtr(keyPtr(k), i)
  else {
    p = scratchRecord(newCount)
    copyWordsDown(p, recPtr(keyPtr(k), i), pmBytes)
  }
  const meta = load<u32>(p, 4)
  const count = metaCount(meta)
  if (count >= inlineSlots) abort('cep kernel: a partial match with more events than an inline record holds')
  const start = load<f64>(p, 8)
  ringHold(entry, start)
  store<i32>(p, <i32>(info & 0xffff))
  store<u32>(p, metaTaking(meta, info >> 16), 4)
  store<u32>(p + 16 + (<usize>count << 2), entry)
  newCount++
  const e = start + windowMs
  if (e < newMinExpiry) newMinExpiry = e
}

/**
 * The start state takes the event at step `info >> 16` into state `info & 0xffff` (HOW_ADVANCES
 * from the start): a new inline record after the key's others, with its timer.
 */
function startRecord(k: i32, info: u32, t: f64, seq: f64): void {
  const entry = takeCurrentEvent(t, seq)
  ringHold(entry, t)
  let p: usize
  if (scratchFrom >= 0) p = scratchRecord(newCount)
  else {
    reserveRecords(k, newCount + 1, newCount)
    p = recPtr(keyPtr(k), newCount)
  }
  store<i32>(p, <i32>(info & 0xffff))
  store<u32>(p, metaTaking(0, info >> 16), 4)
  store<f64>(p, t, 8)
  store<u64>(p, <u64>entry, 16)
  if (inlineSlots > 2) store<u64>(p, 0, 24)
  newCount++
  const e = t + windowMs
  if (e < newMinExpiry) newMinExpiry = e
  arm(k, e)
}

/** The final state after proceeding from `target` on this event's mask (cached per mask when the cache is on). */
@inline
function finalAfter(target: i32, m: u32): i32 {
  if (!cacheOn) return finalAfterProceed(target, m)
  const fp = cachePtr + (((<usize>target << CACHE_MAX_BITS) | <usize>curIdx) << 2) + (<usize>stateCount << (CACHE_MAX_BITS + 2))
  const known = load<i32>(fp)
  if (known != 0) return known - 2
  const fin = finalAfterProceed(target, m)
  store<i32>(fp, fin + 2)
  return fin
}

/**
 * computeNext's successors for inline records: as for path nodes, with the partial match's events
 * (meta, e0 … e3) copied into each successor and a take appending the event's ring entry (one per
 * event, however many partial matches take it).
 */
function nextInline(
  list: usize,
  outN: i32,
  isStart: bool,
  state: i32,
  meta: u32,
  e0: u32,
  e1: u32,
  e2: u32,
  e3: u32,
  start: f64,
  t: f64,
  seq: f64,
  m: u32,
): void {
  for (let i: i32 = 0; i < outN; i++) {
    const ep = edgesPtr + <usize>load<i32>(list + (<usize>i << 2)) * EDGE_BYTES
    const target = load<i32>(ep, 4)
    if (load<i32>(ep) == IGNORE) {
      if (!isStart) addInlineState(target, meta, e0, e1, e2, e3, start)
      continue
    }
    const count = isStart ? 0 : metaCount(meta)
    if (count == INLINE_MAX_EVENTS) abort('cep kernel: a partial match with more events than an inline record holds')
    takeCurrentEvent(t, seq)
    const s0 = isStart ? t : start
    ringHold(curEntry, s0)
    const taken = metaTaking(isStart ? 0 : meta, <u32>load<i32>(ep, 8))
    const t0 = count == 0 ? curEntry : e0
    const t1 = count == 1 ? curEntry : e1
    const t2 = count == 2 ? curEntry : e2
    const t3 = count == 3 ? curEntry : e3
    addInlineState(target, taken, t0, t1, t2, t3, s0)
    const fin = finalAfter(target, m)
    if (fin >= 0) addInlineState(fin, taken, t0, t1, t2, t3, s0)
  }
}

/** (time, seq) of computation state a's first event is before b's. */
@inline
function startsBefore(a: i32, b: i32): bool {
  const ap = csPtr(a)
  const bp = csPtr(b)
  const at = load<f64>(ap, 16)
  const bt = load<f64>(bp, 16)
  return at < bt || (at == bt && csStartSeq(a) < csStartSeq(b))
}

/** The partial match whose record is at r started before computation state b. */
@inline
function recordStartsBefore(r: usize, b: i32): bool {
  const bp = csPtr(b)
  const at = load<f64>(r, 8)
  const bt = load<f64>(bp, 16)
  return at < bt || (at == bt && recStartSeq(r) < csStartSeq(b))
}

/** Node x's event is after node y's, by (time, seq). */
@inline
function eventAfter(x: i32, y: i32): bool {
  const xp = nodePtr(x)
  const yp = nodePtr(y)
  const xt = load<f64>(xp, 16)
  const yt = load<f64>(yp, 16)
  return xt > yt || (xt == yt && load<f64>(xp, 24) > load<f64>(yp, 24))
}

/**
 * Whether the path ending at node a comes before the one ending at b, for two matches with the
 * same first event (decision 0024, as nfa.ts's sortByStart): the earlier event at the first place
 * they differ, a path that is a prefix of the other first, then the steps. Paths are lists from
 * the newest event; events increase along a path, so one merge walk from the newest finds the
 * oldest event in only one of them (the first place they differ) without a buffer; a node both
 * share ends the walk (everything older is the same).
 */
function pathBefore(a: i32, b: i32): bool {
  // The oldest event found in one path only: 1 in a, 2 in b; and whether the other path had
  // events after it (else the other ends there and is a prefix).
  let side: i32 = 0
  let otherGoesOn = false
  let seenA: i32 = 0
  let seenB: i32 = 0
  // The oldest place where the same events have different steps: 1 a's step is lower, 2 b's.
  let stepSide: i32 = 0
  let x = a
  let y = b
  while (x != y && (x >= 0 || y >= 0)) {
    if (y < 0 || (x >= 0 && eventAfter(x, y))) {
      side = 1
      otherGoesOn = seenB > 0
      seenA++
      x = load<i32>(nodePtr(x), 4)
    } else if (x < 0 || eventAfter(y, x)) {
      side = 2
      otherGoesOn = seenA > 0
      seenB++
      y = load<i32>(nodePtr(y), 4)
    } else {
      const sx = load<i32>(nodePtr(x))
      const sy = load<i32>(nodePtr(y))
      if (sx != sy) stepSide = sx < sy ? 1 : 2
      seenA++
      seenB++
      x = load<i32>(nodePtr(x), 4)
      y = load<i32>(nodePtr(y), 4)
    }
  }
  // At the first difference the path with the event has the earlier one there, unless the other
  // path ends there (a prefix comes first).
  if (side == 1) return otherGoesOn
  if (side == 2) return !otherGoesOn
  return stepSide == 1
}

/** Ring entry x's event is before y's, by (time, seq). */
@inline
function entryBefore(x: u32, y: u32): bool {
  const xt = ringTime(x)
  const yt = ringTime(y)
  return xt < yt || (xt == yt && ringSeq(x) < ringSeq(y))
}

/**
 * pathBefore for the inline events of computation states at a and b (oldest first): walking both
 * from the oldest, the first event in only one of them decides (that one comes first unless the
 * other has no events after it: a prefix comes first); with the same events, the oldest place
 * where their steps differ.
 */
function inlineBefore(a: usize, b: usize): bool {
  const ma = load<u32>(a, CS_INLINE_META)
  const mb = load<u32>(b, CS_INLINE_META)
  const na = metaCount(ma)
  const nb = metaCount(mb)
  let i: i32 = 0
  let j: i32 = 0
  let stepSide: i32 = 0
  while (i < na || j < nb) {
    const x = i < na ? load<u32>(a + CS_INLINE_EVENTS + (<usize>i << 2)) : 0
    const y = j < nb ? load<u32>(b + CS_INLINE_EVENTS + (<usize>j << 2)) : 0
    if (j >= nb || (i < na && entryBefore(x, y))) return j < nb
    if (i >= na || entryBefore(y, x)) return !(i < na)
    if (stepSide == 0) {
      const sx = metaStep(ma, i)
      const sy = metaStep(mb, j)
      if (sx != sy) stepSide = sx < sy ? 1 : 2
    }
    i++
    j++
  }
  return stepSide == 1
}

/** Completed match a goes out before b: by first event, then by their paths. */
function completedBefore(a: i32, b: i32): bool {
  if (startsBefore(a, b)) return true
  if (startsBefore(b, a)) return false
  if (inlineEvents) return inlineBefore(csPtr(a), csPtr(b))
  return pathBefore(load<i32>(csPtr(a), 8), load<i32>(csPtr(b), 8))
}

/** Inserts completed match c into key k's waiting matches, in emission order (after equal ones). */
function addCompleted(k: i32, c: i32): void {
  const kp = keyPtr(k)
  let prev: i32 = -1
  let cur = load<i32>(kp, 12)
  while (cur >= 0 && !completedBefore(c, cur)) {
    prev = cur
    cur = load<i32>(csPtr(cur))
  }
  store<i32>(csPtr(c), cur)
  if (prev < 0) store<i32>(kp, c, 12)
  else store<i32>(csPtr(prev), c)
  if (cur < 0) store<i32>(kp, c, 16)
}

// The pruning event of the match being emitted (Flink's AfterMatchSkipStrategy.getPruningId).
let pruneTime: f64 = 0
let pruneSeq: f64 = 0

/** Sets pruneTime/pruneSeq from the path ending at node n; false: nothing to prune. */
function pruningEvent(n: i32): bool {
  if (skipKind == SKIP_NONE) return false
  let found = false
  for (let x = n; x >= 0; x = load<i32>(nodePtr(x), 4)) {
    const np = nodePtr(x)
    if (skipKind == SKIP_TO_FIRST || skipKind == SKIP_TO_LAST) {
      if (load<i32>(np) != skipStep) continue
      // Walking backwards: the last event of the step comes first.
      if (skipKind == SKIP_TO_LAST && found) continue
    } else if (skipKind == SKIP_PAST_LAST && found) continue
    pruneTime = load<f64>(np, 16)
    pruneSeq = load<f64>(np, 24)
    found = true
  }
  return found
}

/** A match that started at (t, q) is pruned by the pruning event. */
@inline
function shouldPrune(t: f64, q: f64): bool {
  if (skipKind == SKIP_TO_FIRST || skipKind == SKIP_TO_LAST)
    return t < pruneTime || (t == pruneTime && q < pruneSeq)
  return t < pruneTime || (t == pruneTime && q <= pruneSeq)
}

/** Removes from key k's held matches every one the pruning event prunes; returns how many. */
function pruneHeld(k: i32): i32 {
  let prev: i32 = -1
  let c = load<i32>(keyPtr(k), 12)
  let removed: i32 = 0
  while (c >= 0) {
    const next = load<i32>(csPtr(c))
    if (shouldPrune(load<f64>(csPtr(c), 16), csStartSeq(c))) {
      if (prev < 0) store<i32>(keyPtr(k), next, 12)
      else store<i32>(csPtr(prev), next)
      discardCs(c)
      removed++
    } else prev = c
    c = next
  }
  store<i32>(keyPtr(k), prev, 16)
  return removed
}

/** Removes from key k's partial matches every one the pruning event prunes; returns how many. */
function prunePartials(k: i32): i32 {
  const n = load<i32>(keyPtr(k))
  let kept: i32 = 0
  for (let i: i32 = 0; i < n; i++) {
    const p = recPtr(keyPtr(k), i)
    if (shouldPrune(load<f64>(p, 8), recStartSeq(p))) releaseNode(load<i32>(p, 4))
    else {
      if (kept != i) copyWordsDown(recPtr(keyPtr(k), kept), recPtr(keyPtr(k), i), pmBytes)
      kept++
    }
  }
  store<i32>(keyPtr(k), kept)
  return n - kept
}

/**
 * Emits the waiting completed matches of key k that no earlier-started partial match can still
 * precede (Flink's processMatchesAccordingToSkipStrategy), pruning by the skip strategy.
 */
function emitCompleted(k: i32): void {
  while (true) {
    const kp = keyPtr(k)
    const em = load<i32>(kp, 12)
    if (em < 0) return
    // Flink's isEarlier is `<= 0`: a match waits only for a partial match that started strictly
    // earlier, and only under a skip strategy (without one, an absence that ran out goes at once).
    if (skipKind != SKIP_NONE && load<i32>(kp) > 0 && recordStartsBefore(recPtr(kp, 0), em)) return
    const next = load<i32>(csPtr(em))
    store<i32>(kp, next, 12)
    if (next < 0) store<i32>(kp, -1, 16)
    const node = load<i32>(csPtr(em), 8)
    if (!inlineEvents && pruningEvent(node)) {
      const removed = prunePartials(k)
      if (removed > 0) {
        totalPartials -= removed
        dropSkip += <f64>removed
      }
      dropSkip += <f64>pruneHeld(k)
    }
    writeCsRecord(REC_MATCH, k, em, load<f64>(csPtr(em), 40))
    discardCs(em)
  }
}

// The key's partial matches being rebuilt by an event: positions below scratchFrom are unchanged
// in the key's block (-1: none changed yet), positions from scratchFrom on are in the scratch
// region until the event ends. Partial matches that ignore an event keep their place, and a line
// that is only read is not written back to memory when it leaves the cache.
let newCount: i32 = 0
let scratchFrom: i32 = -1
let newMinExpiry: f64 = Infinity
// Matches completed by this event, in order.
let potHead: i32 = -1
let potTail: i32 = -1

/** The scratch record of new position j (j >= scratchFrom); may move the layout. */
function scratchRecord(j: i32): usize {
  const end = <usize>(j - scratchFrom + 1) * pmBytes
  if (end > regionCapOf(R_SCRATCH)) growRegion(R_SCRATCH, end)
  return scratchBase + end - pmBytes
}

/** Partial match i of key k stays as it is. */
@inline
function keepRecord(k: i32, i: i32): void {
  let e: f64
  if (scratchFrom < 0) {
    // Nothing before it changed: it is already at its place (newCount == i).
    e = recExpiry(recPtr(keyPtr(k), i))
  } else {
    const q = scratchRecord(newCount)
    const p = recPtr(keyPtr(k), i)
    copyWordsDown(q, p, pmBytes)
    e = recExpiry(p)
  }
  newCount++
  if (e < newMinExpiry) newMinExpiry = e
}

/** Appends computation state c to the key's new partial matches (its path reference goes with it) and frees c. */
function appendNew(c: i32): void {
  if (scratchFrom < 0) scratchFrom = newCount
  const q = scratchRecord(newCount)
  const p = csPtr(c)
  store<i32>(q, load<i32>(p, 4))
  store<i32>(q, load<i32>(p, 8), 4)
  store<f64>(q, load<f64>(p, 16), 8)
  const e = load<f64>(p, 40)
  if (inlineEvents) {
    // The meta word went to 4 as the node does; then the events.
    store<u64>(q, load<u64>(p, CS_INLINE_EVENTS), 16)
    if (inlineSlots > 2) store<u64>(q, load<u64>(p, CS_INLINE_EVENTS + 8), 24)
  } else if (!compactRecords) {
    store<f64>(q, load<f64>(p, 24), 16)
    store<f64>(q, load<f64>(p, 32), 24)
    store<f64>(q, e, 32)
  }
  newCount++
  if (e < newMinExpiry) newMinExpiry = e
  freeCs(c)
}

/** Ends the rebuilding of key k's partial matches: the changed positions go into its block. */
function finishRecords(k: i32): void {
  if (scratchFrom >= 0) {
    reserveRecords(k, newCount, scratchFrom)
    const kp = keyPtr(k)
    copyWordsDown(recPtr(kp, scratchFrom), scratchBase, <usize>(newCount - scratchFrom) * pmBytes)
  }
  const kq = keyPtr(k)
  store<i32>(kq, newCount)
  store<f64>(kq, newMinExpiry, 32)
}

@inline
function appendPotential(c: i32): void {
  store<i32>(csPtr(c), -1)
  if (potTail < 0) potHead = c
  else store<i32>(csPtr(potTail), c)
  potTail = c
}

/** Sorts the results of one computation state: matches, a stop (drops the rest), or partial matches kept. */
function classifyResults(fromPartial: bool): void {
  let stopped = false
  let keepHead: i32 = -1
  let keepTail: i32 = -1
  let any = false
  let c = resHead
  while (c >= 0) {
    any = true
    const next = load<i32>(csPtr(c))
    const kind = stateKind(load<i32>(csPtr(c), 4))
    if (kind == K_FINAL) {
      // A match's time is its last event's (reached through IGNORE or PROCEED, that is not this one).
      store<f64>(csPtr(c), csLastTime(c), 40)
      appendPotential(c)
    } else if (kind == K_STOP) {
      stopped = true
      discardCs(c)
    } else {
      store<i32>(csPtr(c), -1)
      if (keepTail < 0) keepHead = c
      else store<i32>(csPtr(keepTail), c)
      keepTail = c
    }
    c = next
  }
  if (stopped) {
    // A negated step's event ends every branch of this partial match (one drop), except matches it completed.
    if (fromPartial) dropNegation += 1
    c = keepHead
    while (c >= 0) {
      const next = load<i32>(csPtr(c))
      discardCs(c)
      c = next
    }
  } else {
    c = keepHead
    while (c >= 0) {
      const next = load<i32>(csPtr(c))
      appendNew(c)
      c = next
    }
  }
  if (fromPartial && !any) dropNoContinuation += 1
  resHead = -1
  resTail = -1
}

/** Drops key k's oldest partial matches while a budget is exceeded. */
function enforceBudget(k: i32): void {
  const n = load<i32>(keyPtr(k))
  let dropped: i32 = 0
  while (n - dropped > 0 && (n - dropped > maxPerKey || totalPartials > maxTotal)) {
    if (!inlineEvents) releaseNode(load<i32>(recPtr(keyPtr(k), dropped), 4))
    dropped++
    totalPartials--
    dropBudget += 1
  }
  if (dropped == 0) return
  const kp = keyPtr(k)
  copyWordsDown(recPtr(kp, 0), recPtr(kp, dropped), <usize>(n - dropped) * pmBytes)
  store<i32>(kp, n - dropped)
}

function recomputeMinExpiry(k: i32): void {
  const kp = keyPtr(k)
  const n = load<i32>(kp)
  let e: f64 = Infinity
  for (let i: i32 = 0; i < n; i++) {
    const x = recExpiry(recPtr(kp, i))
    if (x < e) e = x
  }
  store<f64>(kp, e, 32)
}

/** Steps key k's partial matches (and its start state) over one event. */
function stepEvent(k: i32, t: f64, seq: f64, m: u32): void {
  curKey = k
  markDirty(k)
  const before = load<i32>(keyPtr(k))
  newCount = 0
  scratchFrom = -1
  newMinExpiry = Infinity
  potHead = -1
  potTail = -1
  for (let i: i32 = 0; i < before; i++) {
    // (Re-read: the successors of the one before may have moved the layout.)
    const p = recPtr(keyPtr(k), i)
    if (cacheOn) {
      const at = (<usize>load<i32>(p) << CACHE_MAX_BITS) | <usize>curIdx
      const how = load<u8>(staysPtr + at)
      if (how == HOW_STAYS) {
        keepRecord(k, i)
        continue
      }
      if (how == HOW_ADVANCES) {
        advanceRecord(k, i, load<u32>(advancePtr + (at << 2)), t, seq)
        continue
      }
    }
    if (computeNext(p, t, seq, m)) {
      keepRecord(k, i)
    } else {
      if (scratchFrom < 0) scratchFrom = newCount
      // The partial match is replaced by its successors (which hold their own references).
      if (!inlineEvents) releaseNode(load<i32>(recPtr(keyPtr(k), i), 4))
      classifyResults(true)
    }
  }
  const startsHow = cacheOn ? load<u8>(startHow + <usize>curIdx) : 0
  if (startsHow == HOW_ADVANCES) startRecord(k, load<u32>(startAdvance + (<usize>curIdx << 2)), t, seq)
  else if (startsHow != HOW_STAYS) {
    computeNext(0, t, seq, m)
    classifyResults(false)
  }
  finishRecords(k)
  totalPartials += newCount - before
  if (potHead >= 0) {
    if (skipKind == SKIP_NONE && load<i32>(csPtr(potHead)) < 0) {
      // One match: nothing to order (without a skip strategy nothing waits either).
      writeCsRecord(REC_MATCH, k, potHead, load<f64>(csPtr(potHead), 40))
      discardCs(potHead)
    } else {
      // In emission order through the waiting list (without a skip strategy it empties at once).
      let c = potHead
      while (c >= 0) {
        const next = load<i32>(csPtr(c))
        addCompleted(k, c)
        c = next
      }
      emitCompleted(k)
    }
  } else if (skipKind != SKIP_NONE && load<i32>(keyPtr(k), 12) >= 0) emitCompleted(k)
  const kept = load<i32>(keyPtr(k))
  enforceBudget(k)
  // The budget may have dropped the partial match a held match waited for.
  if (load<i32>(keyPtr(k)) != kept && load<i32>(keyPtr(k), 12) >= 0) emitCompleted(k)
  if (load<i32>(keyPtr(k)) != newCount) recomputeMinExpiry(k)
}

/**
 * Ends the expired partial match of key k whose inline record is at p: at a pending state it
 * completes (returns true; addCompleted), else it times out. May move the layout (p is read first).
 */
function expireInline(k: i32, p: usize, e: f64): bool {
  const s = load<i32>(p)
  if (stateKind(s) != K_PENDING) {
    if (reportTimeouts) writeInlineRecord(REC_TIMEOUT, k, load<u32>(p, 4), p + 16, e)
    dropTimeout += 1
    return false
  }
  const meta = load<u32>(p, 4)
  const start = load<f64>(p, 8)
  const e0 = load<u32>(p, 16)
  const e1 = load<u32>(p, 20)
  const e2 = inlineSlots > 2 ? load<u32>(p, 24) : 0
  const e3 = inlineSlots > 2 ? load<u32>(p, 28) : 0
  const c = newCs(s, -1, start, NaN, NaN, e)
  storeCsEvents(csPtr(c), meta, e0, e1, e2, e3)
  addCompleted(k, c)
  return true
}

/**
 * Ends key k's partial match whose record is at p and which expired at e: at a pending state
 * (absence at the end) it completes (returns true; addCompleted), else it times out. May move the
 * layout (p is read first).
 */
function endExpired(k: i32, p: usize, e: f64): bool {
  if (inlineEvents) return expireInline(k, p, e)
  const s = load<i32>(p)
  const node = load<i32>(p, 4)
  if (stateKind(s) == K_PENDING) {
    addCompleted(k, newCs(s, node, load<f64>(p, 8), recStartSeq(p), recPrev(p), e))
    return true
  }
  if (reportTimeouts) writeRecord(REC_TIMEOUT, k, node, e)
  dropTimeout += 1
  releaseNode(node)
  return false
}

/**
 * Ends key k's partial matches that expired by `now` (Flink's advanceTime): at a pending state
 * (absence at the end) they complete, others time out.
 */
function expireKey(k: i32, now: f64): void {
  const kp = keyPtr(k)
  if (load<f64>(kp, 32) > now) {
    // Nothing expires, but held matches may be due (their blocker went over the budget).
    if (load<i32>(kp, 12) >= 0) {
      markDirty(k)
      emitCompleted(k)
      recomputeMinExpiry(k)
    }
    return
  }
  markDirty(k)
  const n = load<i32>(kp)
  let kept: i32 = 0
  let completed = false
  let least: f64 = Infinity
  if (derivedExpiry) {
    // Compact and inline records have no step windows: a record's expiry is its start plus `within`, and a
    // key's records are in start order (a successor keeps its parent's start and place, a new
    // partial match starts at the latest event and goes last, expiry and budgets drop a prefix
    // or keep the order, importKey takes the exchange form's order, which is start order). So
    // what expired is a prefix, cut with one move, and the first record left has the least expiry.
    let cut: i32 = 0
    while (cut < n) {
      // (Re-read: completing and releasing may move the layout.)
      const p = recPtr(keyPtr(k), cut)
      const e = recExpiry(p)
      if (e > now) break
      if (endExpired(k, p, e)) completed = true
      cut++
    }
    kept = n - cut
    if (kept > 0) {
      const kc = keyPtr(k)
      if (cut > 0) copyWordsDown(recPtr(kc, 0), recPtr(kc, cut), <usize>kept * pmBytes)
      least = recExpiry(recPtr(kc, 0))
    }
  } else {
    for (let i: i32 = 0; i < n; i++) {
      // (Re-read: completing and releasing may move the layout.)
      const p = recPtr(keyPtr(k), i)
      const e = recExpiry(p)
      if (e <= now) {
        if (endExpired(k, p, e)) completed = true
      } else {
        if (kept != i) copyWordsDown(recPtr(keyPtr(k), kept), recPtr(keyPtr(k), i), pmBytes)
        kept++
        if (e < least) least = e
      }
    }
  }
  const kq = keyPtr(k)
  store<i32>(kq, kept)
  store<f64>(kq, least, 32)
  totalPartials -= n - kept
  if (completed || load<i32>(kq, 12) >= 0) {
    emitCompleted(k)
    recomputeMinExpiry(k)
  }
  fitBlock(k)
}

/** Readies the per-call outputs; the nodes released in the previous call become free. */
function beginCall(): void {
  for (let i: i32 = 0; i < relCount; i++) {
    const s = load<i32>(relBase + (<usize>i << 2))
    store<i32>(nodePtr(s), nodeFree, 4)
    nodeFree = s
  }
  relCount = 0
  outUsed = 0
  takenCount = 0
  // The slots of the ring entries dropped in the previous call may be written again.
  ringFloor = ringHead
}

/** Makes room for `length` input events (may move the layout: re-read the pointers after it). */
export function reserveInput(length: i32): void {
  if (length <= inCap) return
  growRegion(R_IN, <usize>length * IN_BYTES)
}

/** Steps input event i of `length` (columns of capacity `cap` at inBase): its key, mask, time and seq. */
@inline
function stepInput(i: i32, length: i32, cap: usize): void {
  const k = load<i32>(inBase + (<usize>i << 2))
  const m = load<u32>(inBase + (cap << 2) + (<usize>i << 2))
  const t = load<f64>(inBase + cap * 12 + (<usize>i << 3))
  const seq = load<f64>(inBase + cap * 20 + (<usize>i << 3))
  ensureKey(k)
  curEvent = i
  curEntry = NO_ENTRY
  if (cacheOn) curIdx = compressMask(m)
  if (readAhead) touchAhead(i, length)
  expireKey(k, t)
  stepEvent(k, t, seq, m)
}

/**
 * Steps input events 0 … length-1 (columns at inputKeyIds() …); the nodes it created are at
 * takenPtr() as (node, event index) pairs. Returns `length`, or the index of the first event with
 * a negative key id (nothing stepped then).
 */
export function step(length: i32): i32 {
  for (let i: i32 = 0; i < length; i++) {
    if (load<i32>(inBase + (<usize>i << 2)) < 0) return i
  }
  beginCall()
  if (!cacheReady) prepareCache()
  // No walk ahead has started yet (a cursor left by an earlier call may name a state since freed).
  memory.fill(aheadCursor, 0xff, 256)
  readAhead = stateBytes() >= readAheadMinBytes
  if (readAhead) primeAhead(0, length, inBase, 2, aheadCursor)
  for (let i: i32 = 0; i < length; i++) {
    stepInput(i, length, <usize>inCap)
  }
  return length
}

// Reading ahead: with many keys, an event's key block and the path nodes of its partial matches
// are cold (a key's last event was tens of thousands of events ago); each is a cache miss. wasm
// has no prefetch instruction; a load whose value goes nowhere but a sink does the same, but
// unlike a prefetch it holds up retirement until its line arrives. So the loads are issued in
// groups (group prefetching): at every AHEAD_GROUP-th event one tight loop per stage touches the
// lines of a whole group of events ahead, and the group's misses are in flight together instead
// of one after another, each behind the ~1,000 instructions of an event (issue 14: one load per
// event and stage, spread out, left 57 % of the kernel's time at 100,000 cards waiting on them).
// The stages: the keys' entries in the keys region AHEAD_KEY groups early, the first lines of
// their blocks AHEAD_BLOCK groups early, the blocks' further lines (as many as their counts say)
// AHEAD_LINES groups early, and the path node of each of their partial matches AHEAD_NODES groups
// early. A cursor per event ahead (a ring) remembers the block found.
const AHEAD_GROUP: i32 = 8
const AHEAD_GROUP_MASK: i32 = AHEAD_GROUP - 1
const AHEAD_KEY: i32 = 4
const AHEAD_BLOCK: i32 = 3
const AHEAD_LINES: i32 = 2
const AHEAD_NODES: i32 = 1
// Lines after the first and nodes touched per block at most (a longer block is read sequentially,
// which the hardware's own prefetcher follows).
const AHEAD_MAX_LINES: i32 = 4
const AHEAD_MAX_NODES: i32 = 8
// Cursors of the events ahead, by event index mod 64 (more than (AHEAD_KEY + 1) groups).
const AHEAD_RING_MASK: i32 = 63
const aheadCursor: usize = memory.data(256)
// From this many bytes of blocks and path nodes the state stays in the caches (a core's L2 is
// 1–2 MiB), and reading ahead is only work: about 230 of the 3,300 instructions per event with
// 1,000 cards (counted under cachegrind, decision 0032's addendum of 16:30). Decided per call.
let readAheadMinBytes: usize = 1 << 20
let readAhead: bool = true

/** The bytes of the state an event may read: the key blocks and the path nodes. */
@inline
function stateBytes(): usize {
  return blockTop + <usize>nodeTop * NODE_BYTES
}
let touchSink: i32 = 0

/** The key ids of a list of items: the events of a batch (i32s), or the FIFO's timers (16 bytes apart). */
@inline
function itemKey(keys: usize, shift: i32, j: i32): i32 {
  return load<i32>(keys + (<usize>j << shift))
}

/** Touches the keys' entries of items from … to-1. */
@inline
function touchKeyEntries(from: i32, to: i32, keys: usize, shift: i32): void {
  for (let j = from; j < to; j++) {
    const k = itemKey(keys, shift, j)
    if (k < keyCount) touchSink += load<i32>(keysBase + (<usize>k << 2))
  }
}

/** Touches the first line of the blocks of items from … to-1 and remembers them in the cursors. */
@inline
function touchBlocks(from: i32, to: i32, keys: usize, shift: i32, cursor: usize): void {
  for (let j = from; j < to; j++) {
    const k = itemKey(keys, shift, j)
    let off: i32 = -1
    if (k < keyCount) {
      off = <i32>load<u32>(keysBase + (<usize>k << 2))
      touchSink += load<i32>(blocksBase + <usize>off)
    }
    store<i32>(cursor + (<usize>(j & AHEAD_RING_MASK) << 2), off)
  }
}

/** The block offset item j's cursor remembers (-1: none). */
@inline
function cursorOffset(cursor: usize, j: i32): i32 {
  return load<i32>(cursor + (<usize>(j & AHEAD_RING_MASK) << 2))
}

/**
 * The records of the block at kp, bounded by its class's capacity: a cursor may name a block the
 * key has left since (it moved to a larger one); it is still inside the blocks region, and what
 * is read from it is bounded, so that costs at most a useless load.
 */
@inline
function boundedRecords(kp: usize): i32 {
  const cls = load<i32>(kp, 4)
  const n = load<i32>(kp)
  const cap = cls >= 0 && cls < BLOCK_CLASSES ? blockCap(cls) : 0
  return n < cap ? n : cap
}

/** Touches the further lines of the blocks of items from … to-1 (their cursors). */
@inline
function touchLines(from: i32, to: i32, cursor: usize): void {
  for (let j = from; j < to; j++) {
    const off = cursorOffset(cursor, j)
    if (off < 0) continue
    const kp = blocksBase + <usize>off
    const n = boundedRecords(kp)
    let lines = <i32>((BLOCK_HEADER + <usize>n * pmBytes - 1) >> 6)
    if (lines > AHEAD_MAX_LINES) lines = AHEAD_MAX_LINES
    for (let l: i32 = 1; l <= lines; l++) touchSink += load<i32>(kp + (<usize>l << 6))
  }
}

/** Touches the path nodes of the partial matches of items from … to-1 (their cursors). */
@inline
function touchNodes(from: i32, to: i32, cursor: usize): void {
  for (let j = from; j < to; j++) {
    const off = cursorOffset(cursor, j)
    if (off < 0) continue
    const kp = blocksBase + <usize>off
    let n = boundedRecords(kp)
    if (n > AHEAD_MAX_NODES) n = AHEAD_MAX_NODES
    for (let r: i32 = 0; r < n; r++) {
      const node = load<i32>(recPtr(kp, r), 4)
      if (node >= 0 && node < nodeTop) touchSink += load<i32>(nodePtr(node), 8)
    }
  }
}

@inline
function clampTo(x: i32, length: i32): i32 {
  return x < length ? x : length
}

/**
 * Reading ahead at item `i` of a list of `length` items whose key ids are i32s at
 * `keys + (index << shift)`: the events of a batch, or the timers of the FIFO. Only at the first
 * item of a group; each stage then touches one group ahead.
 */
@inline
function touchAheadOf(i: i32, length: i32, keys: usize, shift: i32, cursor: usize): void {
  if ((i & AHEAD_GROUP_MASK) != 0) return
  const g = AHEAD_GROUP
  touchKeyEntries(clampTo(i + AHEAD_KEY * g, length), clampTo(i + (AHEAD_KEY + 1) * g, length), keys, shift)
  touchBlocks(clampTo(i + AHEAD_BLOCK * g, length), clampTo(i + (AHEAD_BLOCK + 1) * g, length), keys, shift, cursor)
  touchLines(clampTo(i + AHEAD_LINES * g, length), clampTo(i + (AHEAD_LINES + 1) * g, length), cursor)
  // (Inline records have no path nodes.)
  if (!inlineEvents)
    touchNodes(clampTo(i + AHEAD_NODES * g, length), clampTo(i + (AHEAD_NODES + 1) * g, length), cursor)
}

/**
 * Starts reading ahead from item `first`: touches, stage by stage, what the groups before the
 * first group boundary at or after `first` would have touched, so the first groups are not cold.
 */
function primeAhead(first: i32, length: i32, keys: usize, shift: i32, cursor: usize): void {
  const boundary = (first + AHEAD_GROUP_MASK) & ~AHEAD_GROUP_MASK
  const g = AHEAD_GROUP
  touchKeyEntries(first, clampTo(boundary + AHEAD_KEY * g, length), keys, shift)
  touchBlocks(first, clampTo(boundary + AHEAD_BLOCK * g, length), keys, shift, cursor)
  touchLines(first, clampTo(boundary + AHEAD_LINES * g, length), cursor)
  if (!inlineEvents) touchNodes(first, clampTo(boundary + AHEAD_NODES * g, length), cursor)
}

@inline
function touchAhead(i: i32, length: i32): void {
  touchAheadOf(i, length, inBase, 2, aheadCursor)
}

// The same for advanceTime: the keys of the FIFO's next timers (most expiries come from it), as
// expiring a key walks its whole list and releases the paths of what expired.
const timerCursor: usize = memory.data(256)

@inline
function touchTimersAhead(h: i32): void {
  // A timer is 16 bytes with its key id at offset 8.
  touchAheadOf(h, fifoTail, fifoBase + 8, 4, timerCursor)
}

/** Expires what the watermark passed (timeouts, absence at the end), key by key from the timers. */
export function advanceTime(watermark: f64): void {
  beginCall()
  readAhead = stateBytes() >= readAheadMinBytes
  expireThrough(watermark)
}

/**
 * Steps input events 0 … length-1 in `segments` segments, as step(segment) then
 * advanceTime(its watermark) one after another would, in one call (issue 14: the operator hands a
 * batch's released events over at once, so the read-ahead and the decision cache see the batch).
 * Segment s is events segmentEnds[s-1] … segmentEnds[s]-1 (an empty one only advances); on return
 * its step's output records end at byte segmentStepOut[s] and its advance's at
 * segmentAdvanceOut[s]. After a segment's advance, each of its events whose emptiness check
 * (inputEmptyChecks) is not 0 gets keyIsEmpty of its key there, plus one (2: emptied, 1: holds
 * something), as the host's keyIsEmpty calls after an advance did. Nodes released in the call stay unused until the next call, as in step,
 * so every record's path is readable. Returns `length`, or the index of the first event with a
 * negative key id (nothing stepped then).
 */
export function stepSegments(length: i32, segments: i32): i32 {
  for (let i: i32 = 0; i < length; i++) {
    if (load<i32>(inBase + (<usize>i << 2)) < 0) return i
  }
  beginCall()
  if (!cacheReady) prepareCache()
  memory.fill(aheadCursor, 0xff, 256)
  readAhead = stateBytes() >= readAheadMinBytes
  if (readAhead) primeAhead(0, length, inBase, 2, aheadCursor)
  const cap = <usize>inCap
  let i: i32 = 0
  for (let s: i32 = 0; s < segments; s++) {
    const first = i
    // (Re-read the bases: stepping and expiring may move the layout.)
    let end = load<i32>(inBase + (cap << 3) + (<usize>s << 2))
    if (end > length) end = length
    for (; i < end; i++) {
      stepInput(i, length, cap)
    }
    store<u32>(inBase + cap * 36 + (<usize>s << 2), <u32>outUsed)
    expireThrough(load<f64>(inBase + cap * 28 + (<usize>s << 3)))
    store<u32>(inBase + cap * 40 + (<usize>s << 2), <u32>outUsed)
    for (let x = first; x < end; x++) {
      const check = inBase + cap * 44 + (<usize>x << 2)
      if (load<i32>(check) != 0) store<i32>(check, keyIsEmpty(load<i32>(inBase + (<usize>x << 2))) + 1)
    }
  }
  return length
}

/** advanceTime's work, without starting a call (stepSegments advances between segments). */
function expireThrough(watermark: f64): void {
  let cleared = false
  while (true) {
    const fromFifo = fifoHead < fifoTail
    const fe = fromFifo ? load<f64>(fifoBase + (<usize>fifoHead << 4)) : Infinity
    const he = heapSize > 0 ? load<f64>(heapBase_) : Infinity
    let e: f64
    let k: i32
    let generation: i32
    if (fe <= he) {
      if (!(fe <= watermark)) break
      e = fe
      k = load<i32>(fifoBase + (<usize>fifoHead << 4), 8)
      generation = load<i32>(fifoBase + (<usize>fifoHead << 4), 12)
      // No walk ahead of the timers has started in this advance (only when one expires: between
      // segments most advances expire nothing).
      if (!cleared) {
        memory.fill(timerCursor, 0xff, 256)
        cleared = true
        if (readAhead) primeAhead(fifoHead, fifoTail, fifoBase + 8, 4, timerCursor)
      }
      if (readAhead) touchTimersAhead(fifoHead)
      fifoHead++
      if (fifoHead == fifoTail) {
        fifoHead = 0
        fifoTail = 0
      }
    } else {
      if (!(he <= watermark)) break
      e = he
      k = load<i32>(heapBase_, 8)
      generation = load<i32>(heapBase_, 12)
      heapPopTop()
    }
    const kp = keyPtr(k)
    // Armed before the key was forgotten: not this key's (its own timers order its expiry).
    if (load<i32>(kp, 8) != generation) continue
    // Its latest timer is gone: an expiry equal to it needs a new one.
    if (load<f64>(kp, 24) == e) store<f64>(kp, NaN, 24)
    if (load<f64>(kp, 32) <= watermark || load<i32>(kp, 12) >= 0) expireKey(k, watermark)
  }
  if (inlineEvents) dropRingFront(watermark)
}

/**
 * The earliest timer: no partial match expires before it (+Infinity: none can). A timer may be
 * stale (its partial matches went, or its key was forgotten), so this is a lower bound;
 * advanceTime to it pops such timers.
 * The host asks once per advance, not per event, so the stepping loop pays nothing for it.
 */
export function nextDue(): f64 {
  const fe = fifoHead < fifoTail ? load<f64>(fifoBase + (<usize>fifoHead << 4)) : Infinity
  const he = heapSize > 0 ? load<f64>(heapBase_) : Infinity
  return fe < he ? fe : he
}

/** Forgets key k when it holds nothing; returns 1 then, else 0. */
export function keyIsEmpty(k: i32): i32 {
  if (k >= keyCount) return 1
  const kp = keyPtr(k)
  if (load<i32>(kp) > 0 || load<i32>(kp, 12) >= 0) return 0
  clearKey(k)
  // Its timers stay in the FIFO and heap until the watermark reaches them: a new generation
  // marks them as not the next holder's of this id.
  store<i32>(kp, load<i32>(kp, 8) + 1, 8)
  // A forgotten key gives back a block it grew.
  if (load<i32>(kp, 4) > 0) moveKeyBlock(k, 0, 0)
  return 1
}

// ---- host access ----

export function layoutVersion(): i32 {
  return version
}
export function inputCapacity(): i32 {
  return inCap
}
export function inputKeyIds(): usize {
  return inBase
}
export function inputMasks(): usize {
  return inBase + (<usize>inCap << 2)
}
export function inputTimes(): usize {
  return inBase + <usize>inCap * 12
}
export function inputSeqs(): usize {
  return inBase + <usize>inCap * 20
}
export function inputSegmentEnds(): usize {
  return inBase + (<usize>inCap << 3)
}
export function inputSegmentWatermarks(): usize {
  return inBase + <usize>inCap * 28
}
export function segmentStepOut(): usize {
  return inBase + <usize>inCap * 36
}
export function segmentAdvanceOut(): usize {
  return inBase + <usize>inCap * 40
}
export function inputEmptyChecks(): usize {
  return inBase + <usize>inCap * 44
}
export function outputPtr(): usize {
  return outBase
}
export function outputBytes(): usize {
  return outUsed
}
export function releasedPtr(): usize {
  return relBase
}
export function releasedCount(): i32 {
  return relCount
}
export function nodesPtr(): usize {
  return nodesBase
}
export function takenPtr(): usize {
  return takenBase
}
export function takenCountOf(): i32 {
  return takenCount
}
export function partialCount(): i32 {
  return totalPartials
}
export function nodeCount(): i32 {
  return totalNodes
}
export function dropCount(reason: i32): f64 {
  if (reason == DROP_TIMEOUT) return dropTimeout
  if (reason == DROP_BUDGET) return dropBudget
  if (reason == DROP_SKIP) return dropSkip
  if (reason == DROP_NEGATION) return dropNegation
  if (reason == DROP_NO_CONTINUATION) return dropNoContinuation
  return 0
}
/** Bytes of linear memory the layout uses. */
export function layoutBytes(): usize {
  return layoutEnd
}

// ---- snapshots: the host copies each region's used bytes and the scalars ----

export function regionCount(): i32 {
  return REGIONS
}
export function regionPtr(r: i32): usize {
  return regionPtrOf(r)
}
/** Bytes of region r that hold state (input and output hold none between calls). */
export function regionUsed(r: i32): usize {
  if (r == R_KEYS) return <usize>keyCount << 2
  if (r == R_BLOCKS) return blockTop
  if (r == R_CS) return <usize>csTop * CS_BYTES
  if (r == R_NODES) return <usize>nodeTop * NODE_BYTES
  if (r == R_REL) return <usize>relCount << 2
  if (r == R_HEAP) return <usize>heapSize * TIMER_BYTES
  if (r == R_FIFO) return <usize>fifoTail << 4
  // The ring is circular: all of it (its live entries may sit anywhere in it).
  if (r == R_RING) return inlineEvents ? <usize>ringCap * RING_ENTRY_BYTES : 0
  // The dirty list is not part of a memory image: a restored engine starts with nothing changed.
  return 0
}
/** Makes region r hold `bytes` (the host then copies them to regionPtr(r)). */
export function reserveRegion(r: i32, bytes: usize): void {
  growRegion(r, bytes)
}
/** Writes the scalars to metaPtr() (for a snapshot). */
export function saveMeta(): usize {
  const p = metaPtr
  store<f64>(p, <f64>keyCount)
  store<f64>(p, <f64>csTop, 8)
  store<f64>(p, <f64>csFree, 16)
  store<f64>(p, <f64>nodeTop, 24)
  store<f64>(p, <f64>nodeFree, 32)
  store<f64>(p, <f64>heapSize, 56)
  store<f64>(p, <f64>fifoHead, 40)
  store<f64>(p, <f64>fifoTail, 48)
  store<f64>(p, <f64>relCount, 64)
  store<f64>(p, <f64>totalPartials, 72)
  store<f64>(p, <f64>totalNodes, 80)
  store<f64>(p, dropTimeout, 96)
  store<f64>(p, dropBudget, 104)
  store<f64>(p, dropSkip, 112)
  store<f64>(p, dropNegation, 120)
  store<f64>(p, dropNoContinuation, 128)
  store<f64>(p, <f64>blockTop, 136)
  for (let c: i32 = 0; c < BLOCK_CLASSES; c++) {
    const head = load<u32>(blockFree + (<usize>c << 2))
    store<f64>(p + (<usize>(18 + c) << 3), head == NO_BLOCK ? -1 : <f64>head)
  }
  store<f64>(p + (<usize>META_RING << 3), <f64>ringHead)
  store<f64>(p + (<usize>(META_RING + 1) << 3), <f64>ringTail)
  store<f64>(p + (<usize>(META_RING + 2) << 3), <f64>ringCap)
  return p
}
export function metaWords(): i32 {
  return META_USED
}
export function metaAddress(): usize {
  return metaPtr
}
/** Reads the scalars back from metaPtr() (after the host restored the regions and the meta words). */
export function loadMeta(): void {
  const p = metaPtr
  keyCount = <i32>load<f64>(p)
  csTop = <i32>load<f64>(p, 8)
  csFree = <i32>load<f64>(p, 16)
  nodeTop = <i32>load<f64>(p, 24)
  nodeFree = <i32>load<f64>(p, 32)
  heapSize = <i32>load<f64>(p, 56)
  fifoHead = <i32>load<f64>(p, 40)
  fifoTail = <i32>load<f64>(p, 48)
  relCount = <i32>load<f64>(p, 64)
  totalPartials = <i32>load<f64>(p, 72)
  totalNodes = <i32>load<f64>(p, 80)
  dropTimeout = load<f64>(p, 96)
  dropBudget = load<f64>(p, 104)
  dropSkip = load<f64>(p, 112)
  dropNegation = load<f64>(p, 120)
  dropNoContinuation = load<f64>(p, 128)
  blockTop = <usize>load<f64>(p, 136)
  for (let c: i32 = 0; c < BLOCK_CLASSES; c++) {
    const head = load<f64>(p + (<usize>(18 + c) << 3))
    store<u32>(blockFree + (<usize>c << 2), head < 0 ? NO_BLOCK : <u32>head)
  }
  // (Snapshots of records with path nodes, of any version, leave the ring as init made it.)
  if (inlineEvents) {
    ringHead = <u32>load<f64>(p + (<usize>META_RING << 3))
    ringTail = <u32>load<f64>(p + (<usize>(META_RING + 1) << 3))
    ringCap = <u32>load<f64>(p + (<usize>(META_RING + 2) << 3))
    ringFloor = ringHead
  }
  outUsed = 0
  dirtyCount = 0
  for (let k: i32 = 0; k < keyCount; k++) store<i32>(keyPtr(k), 0, 20)
}

/**
 * After loadMeta of a version 4 snapshot (full records only) into an engine with compact records:
 * rewrites every key's records in place (a compact record is the first 16 bytes of a full one, and
 * record i only moves down). Blocks keep their class (they hold more records now).
 */
export function compactFullRecords(): void {
  if (!compactRecords) return
  for (let k: i32 = 0; k < keyCount; k++) {
    const kp = keyPtr(k)
    const n = load<i32>(kp)
    for (let i: i32 = 0; i < n; i++)
      memory.copy(kp + BLOCK_HEADER + <usize>i * PM_COMPACT_BYTES, kp + BLOCK_HEADER + <usize>i * PM_FULL_BYTES, PM_COMPACT_BYTES)
  }
}

/**
 * After loadMeta of a version 4 or 5 snapshot (timers without generations): every key gets
 * generation 0 and so does every timer, so each timer applies to whatever its key id holds, as
 * those versions did (the word a timer's generation takes was left unwritten then, so it is
 * overwritten, not read).
 */
export function stampTimerGenerations(): void {
  for (let k: i32 = 0; k < keyCount; k++) store<i32>(keyPtr(k), 0, 8)
  for (let i = fifoHead; i < fifoTail; i++) store<i32>(fifoBase + (<usize>i << 4), 0, 12)
  for (let i: i32 = 0; i < heapSize; i++) store<i32>(heapBase_ + <usize>i * TIMER_BYTES, 0, 12)
}

/** The ring of taken events (inline records): its entries, capacity (a power of two) and live range. */
export function ringPtr(): usize {
  return ringBase
}
export function ringCapacity(): u32 {
  return ringCap
}
export function ringHeadOf(): u32 {
  return ringHead
}
export function ringTailOf(): u32 {
  return ringTail
}
/** The oldest entry the last call's output may name (entries from it on kept their slots in the call). */
export function ringFloorOf(): u32 {
  return ringFloor
}

/** The bytes of a partial match record (16: compact, 40: full). */
export function recordBytes(): i32 {
  return <i32>pmBytes
}

// ---- incremental snapshots: changed keys, one key's matches out and in ----

/** Hands over the changed keys' list (at dirtyPtr(), this many entries, valid until the next call) and starts a new one. */
export function takeDirty(): i32 {
  const n = dirtyCount
  for (let i: i32 = 0; i < n; i++) {
    const k = load<i32>(dirtyBase + (<usize>i << 2))
    if (k < keyCount) store<i32>(keyPtr(k), 0, 20)
  }
  dirtyCount = 0
  return n
}
export function dirtyPtr(): usize {
  return dirtyBase
}

// The exchange form of one key (exportKey writes it at outputPtr(), importKey reads it there):
//   header   16 bytes: node count, partial count, held count, 0
//   nodes    32 bytes each, a path's older nodes before newer ones: step, previous (index in this
//            list, -1: none), the kernel's node number (export; import writes the new one), 0,
//            time f64, seq f64
//   states   40 bytes each, partial matches in list order, then held matches in emission order:
//            NFA state, path (index of its newest node, -1: none), start time, start seq,
//            previous event's time, then (held matches) the match's time, else unused
const X_HEADER: usize = 16
const X_NODE: usize = 32
const X_STATE: usize = 40

/** Counts the nodes of the path ending at n not exported yet (an exported node's refs are negative). */
function unexportedLength(n: i32): i32 {
  let m: i32 = 0
  for (let x = n; x >= 0 && load<i32>(nodePtr(x), 8) > 0; x = load<i32>(nodePtr(x), 4)) m++
  return m
}

/** Exports the path ending at node n (its unexported part) as nodes[first …]; returns the new node count. */
function exportPath(n: i32, first: i32): i32 {
  const m = unexportedLength(n)
  if (m == 0) return first
  reserveOut(X_HEADER + (<usize>(first + m) * X_NODE))
  let i = first + m - 1
  for (let x = n; i >= first; x = load<i32>(nodePtr(x), 4)) {
    const np = nodePtr(x)
    const q = outBase + X_HEADER + <usize>i * X_NODE
    store<i32>(q, load<i32>(np))
    store<i32>(q, x, 8)
    // The node's reference count waits here while its refs field says where it was exported.
    store<i32>(q, load<i32>(np, 8), 12)
    store<f64>(q, load<f64>(np, 16), 16)
    store<f64>(q, load<f64>(np, 24), 24)
    store<i32>(np, -(i + 1), 8)
    i--
  }
  // Previous links, now that every node of the path has its index.
  for (let j = first; j < first + m; j++) {
    const q = outBase + X_HEADER + <usize>j * X_NODE
    const prev = load<i32>(nodePtr(load<i32>(q, 8)), 4)
    store<i32>(q, prev < 0 ? -1 : -load<i32>(nodePtr(prev), 8) - 1, 4)
  }
  return first + m
}

/** Writes the exchange form's header (the staging area is free again); returns `bytes`. */
function endExport(nodes: i32, partials: i32, held: i32, bytes: usize): usize {
  store<i32>(outBase, nodes)
  store<i32>(outBase, partials, 4)
  store<i32>(outBase, held, 8)
  store<i32>(outBase, 0, 12)
  outUsed = 0
  return bytes
}

/**
 * Writes key k's partial and held matches in the exchange form at outputPtr() (valid until the
 * next call); returns its bytes (0: the key holds nothing). A node shared by several partial
 * matches is written once.
 */
export function exportKey(k: i32): usize {
  outUsed = 0
  if (k >= keyCount) return 0
  if (inlineEvents) return exportInlineKey(k)
  const kp = keyPtr(k)
  const partials = load<i32>(kp)
  let held: i32 = 0
  for (let c = load<i32>(kp, 12); c >= 0; c = load<i32>(csPtr(c))) held++
  if (partials == 0 && held == 0) return 0
  // (exportPath may grow the staging area, which moves the regions above it, not keys or states.)
  let nodes: i32 = 0
  for (let i: i32 = 0; i < partials; i++) nodes = exportPath(load<i32>(recPtr(keyPtr(k), i), 4), nodes)
  for (let c = load<i32>(keyPtr(k), 12); c >= 0; c = load<i32>(csPtr(c)))
    nodes = exportPath(load<i32>(csPtr(c), 8), nodes)
  const statesAt = X_HEADER + <usize>nodes * X_NODE
  const bytes = statesAt + <usize>(partials + held) * X_STATE
  reserveOut(bytes)
  const kq = keyPtr(k)
  for (let i: i32 = 0; i < partials; i++) {
    const p = recPtr(kq, i)
    const q = outBase + statesAt + <usize>i * X_STATE
    const node = load<i32>(p, 4)
    store<i32>(q, load<i32>(p))
    store<i32>(q, node < 0 ? -1 : -load<i32>(nodePtr(node), 8) - 1, 4)
    store<f64>(q, load<f64>(p, 8), 8)
    store<f64>(q, recStartSeq(p), 16)
    store<f64>(q, recPrev(p), 24)
    store<f64>(q, 0, 32)
  }
  let i = partials
  for (let c = load<i32>(kq, 12); c >= 0; c = load<i32>(csPtr(c))) {
    const p = csPtr(c)
    const q = outBase + statesAt + <usize>i * X_STATE
    const node = load<i32>(p, 8)
    store<i32>(q, load<i32>(p, 4))
    store<i32>(q, node < 0 ? -1 : -load<i32>(nodePtr(node), 8) - 1, 4)
    store<f64>(q, load<f64>(p, 16), 8)
    store<f64>(q, csStartSeq(c), 16)
    store<f64>(q, load<f64>(p, 32), 24)
    store<f64>(q, load<f64>(p, 40), 32)
    i++
  }
  // Reference counts back where they were.
  for (let j: i32 = 0; j < nodes; j++) {
    const q = outBase + X_HEADER + <usize>j * X_NODE
    store<i32>(nodePtr(load<i32>(q, 8)), load<i32>(q, 12), 8)
    store<i32>(q, 0, 12)
  }
  return endExport(nodes, partials, held, bytes)
}

// The chain of nodes the previous state of an inline export went to (its meta word, ring indices
// and node indices), so that the next state shares the nodes of the prefix they have in common, as
// branches share path nodes (the exchange form writes a shared event once).
const chainEvents: usize = memory.data(INLINE_MAX_EVENTS << 2)
const chainNodes: usize = memory.data(INLINE_MAX_EVENTS << 2)
let chainMeta: u32 = 0

/**
 * Exports an inline event list (meta, ring indices at `events`) as nodes from `first` on (oldest
 * first, each linked to the one before; the prefix it shares with the previous state's list is
 * that list's nodes) and, when `write`, state record `i` for it (NFA state s, start, and `time`
 * for a held match). Returns the next free node index. Without `write` it only counts, so that the
 * states' place is known before anything is written.
 */
function exportInlineState(write: bool, i: usize, statesAt: usize, s: i32, meta: u32, events: usize, start: f64, time: f64, first: i32): i32 {
  const count = metaCount(meta)
  const known = metaCount(chainMeta)
  let shared: i32 = 0
  while (
    shared < count &&
    shared < known &&
    load<u32>(events + (<usize>shared << 2)) == load<u32>(chainEvents + (<usize>shared << 2)) &&
    metaStep(meta, shared) == metaStep(chainMeta, shared)
  )
    shared++
  let n = first
  for (let j = shared; j < count; j++) {
    const e = load<u32>(events + (<usize>j << 2))
    if (write) {
      const q = outBase + X_HEADER + <usize>n * X_NODE
      store<i32>(q, metaStep(meta, j))
      store<i32>(q, j == 0 ? -1 : load<i32>(chainNodes + (<usize>(j - 1) << 2)), 4)
      store<u32>(q, e, 8)
      store<i32>(q, 0, 12)
      store<f64>(q, ringTime(e), 16)
      store<f64>(q, ringSeq(e), 24)
    }
    store<u32>(chainEvents + (<usize>j << 2), e)
    store<i32>(chainNodes + (<usize>j << 2), n)
    n++
  }
  chainMeta = meta
  if (!write) return n
  const q = outBase + statesAt + i * X_STATE
  store<i32>(q, s)
  store<i32>(q, count == 0 ? -1 : load<i32>(chainNodes + (<usize>(count - 1) << 2)), 4)
  store<f64>(q, start, 8)
  store<f64>(q, count == 0 ? NaN : ringSeq(load<u32>(events)), 16)
  store<f64>(q, count == 0 ? NaN : ringTime(lastEvent(events, meta)), 24)
  store<f64>(q, time, 32)
  return n
}

/**
 * Exports key k's inline states (partial matches, then held ones) once without writing, to count
 * the nodes, or written at `statesAt`. Returns the node count.
 */
function exportInlineStates(k: i32, write: bool, statesAt: usize): i32 {
  const kq = keyPtr(k)
  const partials = load<i32>(kq)
  chainMeta = 0
  let n: i32 = 0
  for (let i: i32 = 0; i < partials; i++) {
    const p = recPtr(kq, i)
    n = exportInlineState(write, <usize>i, statesAt, load<i32>(p), load<u32>(p, 4), p + 16, load<f64>(p, 8), 0, n)
  }
  let i = partials
  for (let c = load<i32>(kq, 12); c >= 0; c = load<i32>(csPtr(c))) {
    const p = csPtr(c)
    n = exportInlineState(write, <usize>i, statesAt, load<i32>(p, 4), load<u32>(p, CS_INLINE_META), p + CS_INLINE_EVENTS, load<f64>(p, 16), load<f64>(p, 40), n)
    i++
  }
  return n
}

/** exportKey for inline records. */
function exportInlineKey(k: i32): usize {
  const kp = keyPtr(k)
  const partials = load<i32>(kp)
  let held: i32 = 0
  for (let c = load<i32>(kp, 12); c >= 0; c = load<i32>(csPtr(c))) held++
  if (partials == 0 && held == 0) return 0
  const nodes = exportInlineStates(k, false, 0)
  const statesAt = X_HEADER + <usize>nodes * X_NODE
  const bytes = statesAt + <usize>(partials + held) * X_STATE
  // (May move the blocks region: the key's block is looked up after it.)
  reserveOut(bytes)
  exportInlineStates(k, true, statesAt)
  return endExport(nodes, partials, held, bytes)
}

/**
 * importKey for inline records: each node of the exchange form becomes a ring entry (its record
 * then holds the entry's index). The ring is the last region: appending never moves the staging
 * area.
 */
function importRingEntries(nodes: i32): void {
  for (let j: i32 = 0; j < nodes; j++) {
    const q = outBase + X_HEADER + <usize>j * X_NODE
    store<u32>(q, ringAppend(load<f64>(q, 16), load<f64>(q, 24)), 8)
  }
}

// The events of the exchange form's state being imported (inline records): meta and ring indices.
let importMeta: u32 = 0
let importE0: u32 = 0
let importE1: u32 = 0
let importE2: u32 = 0
let importE3: u32 = 0

/**
 * Reads the path of the exchange form's state at q (inline records, after importRingEntries) into
 * importMeta and importE0 … importE3, oldest first. A path of more than `most` events, or one that
 * does not hold the start seq and last time the state says, is refused.
 */
function importInlineEvents(q: usize, nodes: i32, most: i32): void {
  const start = load<f64>(q, 8)
  // Walked from the newest, each event pushed in at slot 0, so the oldest ends there.
  let x = load<i32>(q, 4)
  let count: i32 = 0
  let steps: u32 = 0
  let e0: u32 = 0
  let e1: u32 = 0
  let e2: u32 = 0
  let e3: u32 = 0
  while (x >= 0) {
    if (count == most || x >= nodes) abort('cep kernel: a partial match with more events than an inline record holds')
    const np = outBase + X_HEADER + <usize>x * X_NODE
    const e = load<u32>(np, 8)
    ringHold(e, start)
    e3 = e2
    e2 = e1
    e1 = e0
    e0 = e
    steps = (steps << 4) | (<u32>load<i32>(np) & 15)
    count++
    x = load<i32>(np, 4)
  }
  const last = count == 1 ? e0 : count == 2 ? e1 : count == 3 ? e2 : e3
  if (count == 0 || ringTime(last) != load<f64>(q, 24) || ringSeq(e0) != load<f64>(q, 16))
    abort('cep kernel: a partial match whose path does not hold its last time and start seq')
  importMeta = <u32>count | (steps << 4)
  importE0 = e0
  importE1 = e1
  importE2 = e2
  importE3 = e3
}

/** Makes the exchange form's nodes path nodes (importKey with path nodes); each record gets its node's number. */
function importPathNodes(nodes: i32): void {
  for (let j: i32 = 0; j < nodes; j++) {
    let n = nodeFree
    if (n >= 0) nodeFree = load<i32>(nodePtr(n), 4)
    else {
      n = nodeTop
      if (<usize>(n + 1) * NODE_BYTES > regionCapOf(R_NODES)) growRegion(R_NODES, <usize>(n + 1) * NODE_BYTES)
      nodeTop = n + 1
    }
    const q = outBase + X_HEADER + <usize>j * X_NODE
    const prevIndex = load<i32>(q, 4)
    const prev = prevIndex < 0 ? -1 : load<i32>(outBase + X_HEADER + <usize>prevIndex * X_NODE, 8)
    const p = nodePtr(n)
    store<i32>(p, load<i32>(q))
    store<i32>(p, prev, 4)
    store<i32>(p, 0, 8)
    store<f64>(p, load<f64>(q, 16), 16)
    store<f64>(p, load<f64>(q, 24), 24)
    lockNode(prev)
    store<i32>(q, n, 8)
    totalNodes++
  }
}

/**
 * Writes the exchange form's partial match at q as record i of key k; returns its expiry. With
 * path nodes, the node of the state's path (-1: none) is `node` and gets a reference.
 */
function importRecord(k: i32, i: i32, q: usize, nodes: i32): f64 {
  const s = load<i32>(q)
  const start = load<f64>(q, 8)
  const startSeq = load<f64>(q, 16)
  const prev = load<f64>(q, 24)
  const e = expiryOf(s, start, prev)
  if (inlineEvents) {
    importInlineEvents(q, nodes, inlineSlots)
    const p = recPtr(keyPtr(k), i)
    store<i32>(p, s)
    store<u32>(p, importMeta, 4)
    store<f64>(p, start, 8)
    store<u32>(p, importE0, 16)
    store<u32>(p, importE1, 20)
    if (inlineSlots > 2) {
      store<u32>(p, importE2, 24)
      store<u32>(p, importE3, 28)
    }
    return e
  }
  const node = importedNode(q)
  lockNode(node)
  const p = recPtr(keyPtr(k), i)
  store<i32>(p, s)
  store<i32>(p, node, 4)
  store<f64>(p, start, 8)
  if (compactRecords) {
    // What a compact record derives must be what the exchange form says.
    if (node < 0 || load<f64>(nodePtr(node), 16) != prev || pathStartSeq(node) != startSeq)
      abort('cep kernel: a partial match whose path does not hold its last time and start seq')
  } else {
    store<f64>(p, startSeq, 16)
    store<f64>(p, prev, 24)
    store<f64>(p, e, 32)
  }
  return e
}

/** The kernel's node for the path of the exchange form's state at q (-1: none). */
@inline
function importedNode(q: usize): i32 {
  const nodeIndex = load<i32>(q, 4)
  return nodeIndex < 0 ? -1 : load<i32>(outBase + X_HEADER + <usize>nodeIndex * X_NODE, 8)
}

/** A computation state for the exchange form's held match at q (its `next` -1). */
function importHeld(q: usize, nodes: i32): i32 {
  if (inlineEvents) importInlineEvents(q, nodes, INLINE_MAX_EVENTS)
  const node = inlineEvents ? -1 : importedNode(q)
  lockNode(node)
  const c = newCs(load<i32>(q), node, load<f64>(q, 8), load<f64>(q, 16), load<f64>(q, 24), load<f64>(q, 32))
  store<i32>(csPtr(c), -1)
  if (inlineEvents) storeCsEvents(csPtr(c), importMeta, importE0, importE1, importE2, importE3)
  return c
}

/** Makes the staging area at outputPtr() hold `bytes` (may move the layout). */
export function reserveStaging(bytes: usize): void {
  outUsed = 0
  reserveOut(bytes)
}

/**
 * Gives key k (which must hold nothing) the partial and held matches in the exchange form at
 * outputPtr(); each node's record then holds its new node number (inline records: its ring index).
 * Timers are armed as stepping arms them, so the key expires as it would have.
 */
export function importKey(k: i32): void {
  ensureKey(k)
  const kp = keyPtr(k)
  if (load<i32>(kp) > 0 || load<i32>(kp, 12) >= 0) abort('cep kernel: importKey into a key that holds matches')
  const nodes = load<i32>(outBase)
  const partials = load<i32>(outBase, 4)
  const held = load<i32>(outBase, 8)
  if (inlineEvents) importRingEntries(nodes)
  else importPathNodes(nodes)
  // Allocating may grow regions and move the staging area: its records are read by offset.
  const statesAt = X_HEADER + <usize>nodes * X_NODE
  reserveRecords(k, partials, 0)
  let tail: i32 = -1
  let least: f64 = Infinity
  for (let i: i32 = 0; i < partials + held; i++) {
    const q = outBase + statesAt + <usize>i * X_STATE
    if (i < partials) {
      const e = importRecord(k, i, q, nodes)
      if (e < least) least = e
      arm(k, e)
      continue
    }
    const c = importHeld(q, nodes)
    if (tail < 0) store<i32>(keyPtr(k), c, 12)
    else store<i32>(csPtr(tail), c)
    store<i32>(keyPtr(k), c, 16)
    tail = c
  }
  const kr = keyPtr(k)
  store<i32>(kr, partials)
  store<f64>(kr, least, 32)
  totalPartials += partials
  outUsed = 0
}
