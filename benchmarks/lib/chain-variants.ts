/**
 * The variants of benchmarks/fused-vs-interpreted.bench.ts over the payments workload (filter →
 * map → key by on decoded events), and the checks that they all compute the same outputs:
 *
 * - hand-written loop: what a person would write for this pipeline with no framework: one loop
 *   over the decoded payments, the filter, the projection and the key inline.
 * - operator-at-a-time: one loop per operator per batch (filter into a selection vector, then
 *   map through it, then key by); the operators are specialised to this pipeline by hand, as a
 *   code generator that compiled each operator on its own would emit them. Fusion's own worth is
 *   the fused chain against this.
 * - interpreted: `createInterpreter` over the same checked, unfused IR: one object per operator,
 *   one `push` per event per operator (compiler/ir/interpret.ts). Its outputs are the reference.
 * - fused: the artifact `compileSource` produces for the pipeline, loaded through the runtime's
 *   artifact loader; its one chain function runs a whole batch in one loop.
 *
 * Every variant writes value, key and timestamp of each output into arrays reused between batches
 * and exposes them through `VariantSpec.outputs`, so they can be read and compared.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import { writeArtifact } from '../../compiler/artifact/package.ts'
import { compileSource } from '../../compiler/compile.ts'
import { checkSource } from '../../compiler/frontend.ts'
import { createInterpreter, type InterpreterEvent } from '../../compiler/ir/interpret.ts'
import type { Pipeline } from '../../compiler/ir/types.ts'
import { loadArtifact } from '../../runtime/artifact/load.ts'
import {
  type ChainError,
  type ChainFunction,
  createEventBatch,
  type EventBatch,
} from '../../runtime/artifact/operators.ts'
import { OutputChecksum, type OutputView } from './checksum.ts'
import type { VariantResult, VariantSpec } from './measure.ts'
import { type Payment, paymentPipeline } from './payments.ts'

const SOURCE_NAME = 'payments'

export const PIPELINE = paymentPipeline()

/** The variants, in the order they are measured and reported; `fused` is compared with each other one. */
export const VARIANTS = {
  'hand-written': 'hand-written loop',
  'operator-at-a-time': 'operator-at-a-time',
  interpreted: 'interpreted',
  fused: 'fused (generated)',
} as const
export type VariantKey = keyof typeof VARIANTS
export const VARIANT_KEYS = Object.keys(VARIANTS) as VariantKey[]

/** The pipeline's output value, `select { id, card, cents: to_i64(amount * 100.0), country }`. */
interface BigPayment {
  id: string
  card: string
  cents: number
  country: string
}

interface Chunk {
  readonly start: number
  readonly end: number
}

function chunks(total: number, size: number): Chunk[] {
  const out: Chunk[] = []
  for (let start = 0; start < total; start += size) out.push({ start, end: Math.min(total, start + size) })
  return out
}

/** Input batches in the runtime's shape (what the fused chain and the batched operators read). */
function eventBatches(payments: readonly Payment[], size: number): EventBatch[] {
  return chunks(payments.length, size).map(({ start, end }) => ({
    values: payments.slice(start, end),
    keys: new Array<string | null>(end - start).fill(null),
    timestamps: payments.slice(start, end).map((p) => p.ts),
    origins: Array.from({ length: end - start }, (_, i) => start + i),
    length: end - start,
  }))
}

/** The fused variant: the generated chain function over pre-built input batches. */
function fusedVariant(chain: ChainFunction, payments: readonly Payment[]): VariantSpec<EventBatch> {
  const output = createEventBatch(0)
  const errors: ChainError[] = []
  return {
    name: VARIANTS.fused,
    batches: (size) => eventBatches(payments, size),
    process: (batch) => {
      errors.length = 0
      chain(batch, output, errors, [])
      // No event of this input can fail; one that did would be missing from the outputs.
      if (errors.length > 0) throw new Error(`the fused chain reported ${errors.length} errors`)
      return output.length
    },
    outputs: () => output,
  }
}

/**
 * The hand-written loop: filter, projection and key inline in one loop over the decoded payments,
 * as someone would write this pipeline without a framework (no error handling: `Math.trunc` where
 * `to_i64` checks for NaN and overflow, which no payment here reaches).
 */
function handWrittenVariant(payments: readonly Payment[]): VariantSpec<Payment[]> {
  const out = { values: [] as BigPayment[], keys: [] as string[], timestamps: [] as number[], length: 0 }
  return {
    name: VARIANTS['hand-written'],
    batches: (size) => chunks(payments.length, size).map(({ start, end }) => payments.slice(start, end)),
    process: (batch) => {
      const values = out.values
      const keys = out.keys
      const timestamps = out.timestamps
      let o = 0
      for (let i = 0; i < batch.length; i++) {
        const p = batch[i]!
        if (p.amount > 100 && p.country !== 'US') {
          values[o] = { id: p.id, card: p.card, cents: Math.trunc(p.amount * 100), country: p.country }
          keys[o] = p.card
          timestamps[o] = p.ts
          o++
        }
      }
      out.length = o
      return o
    },
    outputs: () => out,
  }
}

// Operator-at-a-time: each operator is its own loop over a whole batch, like a batched
// (vectorised) engine that compiles operators one by one. The filter writes a selection vector
// (indices of the events that pass) rather than copying them, as such engines do; the projection
// reads through it into the output batch; key by then sets the keys of that batch in place.

/** Indices of the events that pass, in `selection`; returns how many. */
function filterBatch(input: EventBatch, selection: Int32Array): number {
  const values = input.values as Payment[]
  let n = 0
  for (let i = 0; i < input.length; i++) {
    const p = values[i]!
    if (p.amount > 100 && p.country !== 'US') selection[n++] = i
  }
  return n
}

function selectBatch(input: EventBatch, selection: Int32Array, selected: number, output: EventBatch): void {
  const values = input.values as Payment[]
  for (let j = 0; j < selected; j++) {
    const i = selection[j]!
    const p = values[i]!
    output.values[j] = { id: p.id, card: p.card, cents: Math.trunc(p.amount * 100), country: p.country }
    output.keys[j] = input.keys[i]!
    output.timestamps[j] = input.timestamps[i]!
    output.origins[j] = input.origins[i]!
  }
  output.length = selected
}

function keyByCard(batch: EventBatch): void {
  const values = batch.values as BigPayment[]
  for (let i = 0; i < batch.length; i++) batch.keys[i] = values[i]!.card
}

function operatorAtATimeVariant(payments: readonly Payment[]): VariantSpec<EventBatch> {
  let selection = new Int32Array(1024)
  const output = createEventBatch(0)
  return {
    name: VARIANTS['operator-at-a-time'],
    batches: (size) => eventBatches(payments, size),
    process: (batch) => {
      if (selection.length < batch.length) selection = new Int32Array(batch.length)
      const selected = filterBatch(batch, selection)
      selectBatch(batch, selection, selected, output)
      keyByCard(output)
      return output.length
    },
    outputs: () => output,
  }
}

/** The interpreted variant: one push per event through the unfused operator objects. */
function interpretedVariant(
  pipeline: Pipeline,
  payments: readonly Payment[],
): VariantSpec<InterpreterEvent[]> {
  // The sink writes into reused arrays, like the fused chain's output batch.
  const out = {
    values: [] as unknown[],
    keys: [] as (string | null)[],
    timestamps: [] as number[],
    length: 0,
  }
  let failures = 0
  const interpreter = createInterpreter(pipeline, {
    onSink: (event) => {
      out.values[out.length] = event.value
      out.keys[out.length] = event.key
      out.timestamps[out.length] = event.timestamp
      out.length++
    },
    onError: () => {
      failures++
    },
  })
  const events: InterpreterEvent[] = payments.map((p) => ({
    value: p as unknown as Record<string, unknown>,
    key: null,
    timestamp: p.ts,
  }))
  return {
    name: VARIANTS.interpreted,
    batches: (size) => chunks(events.length, size).map(({ start, end }) => events.slice(start, end)),
    process: (batch) => {
      out.length = 0
      for (let i = 0; i < batch.length; i++) interpreter.push(SOURCE_NAME, batch[i]!)
      if (failures > 0) throw new Error(`the interpreter reported ${failures} errors`)
      return out.length
    },
    outputs: () => out,
  }
}

export function variantSpec(
  key: VariantKey,
  chain: ChainFunction,
  pipeline: Pipeline,
  payments: readonly Payment[],
): VariantSpec<unknown> {
  switch (key) {
    case 'hand-written':
      return handWrittenVariant(payments) as VariantSpec<unknown>
    case 'operator-at-a-time':
      return operatorAtATimeVariant(payments) as VariantSpec<unknown>
    case 'interpreted':
      return interpretedVariant(pipeline, payments) as VariantSpec<unknown>
    case 'fused':
      return fusedVariant(chain, payments) as VariantSpec<unknown>
  }
}

export interface OutputEvent {
  readonly value: unknown
  readonly key: string | null
  readonly timestamp: number
}

function collectOutputs(spec: VariantSpec<unknown>, batchSize: number): OutputEvent[] {
  const collected: OutputEvent[] = []
  for (const batch of spec.batches(batchSize)) {
    spec.process(batch)
    const out: OutputView = spec.outputs!()
    for (let i = 0; i < out.length; i++) {
      // Copies, not references: a variant may reuse its output objects between batches.
      collected.push(
        structuredClone({ value: out.values[i], key: out.keys[i]!, timestamp: out.timestamps[i]! }),
      )
    }
  }
  return collected
}

function digest(events: readonly OutputEvent[]): string {
  const checksum = new OutputChecksum()
  for (const e of events) checksum.addEvent(e.value, e.key, e.timestamp)
  return checksum.result().digest
}

/** Makes a fresh spec of one variant over the given payments. */
export type SpecFactory = (key: VariantKey, payments: readonly Payment[]) => VariantSpec<unknown>

/** The four variants of the benchmark over `payments`, the fused one running `chain`. */
export function specFactory(chain: ChainFunction, pipeline: Pipeline): SpecFactory {
  return (key, payments) => variantSpec(key, chain, pipeline, payments)
}

/**
 * Runs every variant over `payments` (in batches of `batchSize`, like the measurement) and throws
 * if any output (value, key, timestamp; field order included) differs from the interpreter's, the
 * reference semantics. Returns the number of events emitted.
 */
export function crossCheck(makeSpec: SpecFactory, payments: readonly Payment[], batchSize: number): number {
  const expected = collectOutputs(makeSpec('interpreted', payments), batchSize)
  if (expected.length === 0) throw new Error('the check prefix emits nothing; nothing would be compared')
  for (const key of VARIANT_KEYS) {
    const actual = collectOutputs(makeSpec(key, payments), batchSize)
    const at = actual.findIndex((event, i) => !isDeepStrictEqual(event, expected[i]))
    if (actual.length !== expected.length || at >= 0 || digest(actual) !== digest(expected)) {
      const where =
        at >= 0
          ? `output ${at}: ${JSON.stringify(actual[at])} where the interpreter emits ${JSON.stringify(expected[at])}`
          : `${actual.length} outputs where the interpreter emits ${expected.length}, or a different field order`
      throw new Error(
        `${VARIANTS[key]} differs from the interpreter on the check prefix, ${where}; not benchmarking`,
      )
    }
  }
  return expected.length
}

/** Throws unless every variant emitted the same outputs on its measured run (checksums from the children). */
export function checkMeasuredOutputs(variants: readonly VariantResult[]): void {
  const reference = variants[0]!
  for (const v of variants) {
    if (v.outputs === undefined) throw new Error(`${v.name} reported no output checksums`)
    const same =
      v.throughput.outputsPerIteration === reference.throughput.outputsPerIteration &&
      isDeepStrictEqual(v.outputs, reference.outputs)
    if (!same) {
      throw new Error(
        `${v.name} emitted different outputs than ${reference.name} on the measured run: ${JSON.stringify(v.outputs)} vs ${JSON.stringify(reference.outputs)}; not writing a report`,
      )
    }
  }
}

export async function loadFusedChain(): Promise<{
  chain: ChainFunction
  chainId: string
  pipeline: Pipeline
}> {
  const compiled = compileSource('bench.pipe', PIPELINE)
  if (compiled.artifact === null || compiled.pipeline === null) {
    throw new Error(
      `the benchmark pipeline does not compile:\n${JSON.stringify(compiled.diagnostics, null, 2)}`,
    )
  }
  const fused = compiled.pipeline.nodes.filter((node) => node.kind === 'Fused')
  if (fused.length !== 1) throw new Error(`expected one fused chain, the optimiser made ${fused.length}`)
  const chainId = fused[0]!.id
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-'))
  try {
    await writeArtifact(compiled.artifact, dir)
    const loaded = await loadArtifact(dir)
    const chain = loaded.operators.chains[chainId]
    if (chain === undefined) throw new Error(`artifact has no chain '${chainId}'`)
    return { chain, chainId, pipeline: compiled.pipeline }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

export function checkedPipeline(): Pipeline {
  const checked = checkSource('bench.pipe', PIPELINE)
  if (checked.pipeline === null)
    throw new Error(`the benchmark pipeline does not check: ${JSON.stringify(checked.diagnostics)}`)
  return checked.pipeline
}
