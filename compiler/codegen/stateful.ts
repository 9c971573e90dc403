/**
 * Code of the stateful steps of a fused chain, `dedup` and `aggregate`, as statements of the
 * chain's loop body. Each step reads and writes its keyed state through `states[slot]` (the
 * runtime's StepState for the batch's source partition, runtime/artifact/operators.ts), with the
 * event time as the state's clock. Semantics: specs/language.md, "Stateful steps"; the reference
 * is compiler/ir/stateful-semantics.ts, and codegen.test.ts compares the two on random events.
 *
 * Sketch for `dedup by id within 10s` (state slot 0, site 3):
 *
 *   site = 3
 *   if (time > states[0]!.clock) states[0]!.clock = time
 *   const sk1 = r0.id
 *   const s1 = states[0]!.get(sk1, time) as number | undefined
 *   const l1 = s1 !== undefined && s1 + 10000 > states[0]!.clock - states[0]!.latenessMs
 *   if (l1 && Math.abs(time - s1) < 10000) continue
 *   if (!states[0]!.set(sk1, l1 && s1 > time ? s1 : time, time)) stateFull('t.dedup.0.85881c92', 3)
 *
 * An aggregate computes every new accumulator before it writes the state, so an event that fails
 * (an overflow, a key or argument that fails to evaluate) leaves the state as it was. One whose
 * accumulators are all numbers (no min or max of strings) keeps them as a row of float64 columns
 * per key (StepState.findRow, docs/decisions/0037), with no object per key or per event; sketch
 * for `aggregate by card { n: count(), total: sum(amount) }` (layout constant k0 = ['number', 'number']):
 *
 *   const sk1 = kv1_0
 *   const p1 = states[0]!.findRow(sk1, time, k0)
 *   const c1 = states[0]!.rows
 *   const a1_0 = (p1 < 0 ? 0 : c1[p1]!) + 1
 *   const a1_1 = sumI64(p1 < 0 ? null : nullIfNaN(c1[p1 + 1]!), av1_1, 3)
 *   const w1 = states[0]!.rowScratch
 *   w1[0] = a1_0
 *   w1[1] = a1_1 ?? Number.NaN
 *   if (!states[0]!.setRow(sk1, time)) stateFull('t.aggregate.0.1c2d3e4f', 3)
 */
import { isOptional, unwrapOptional } from '../ir/expr.ts'
import type { AggregateField, Expr, FusedStep, RecordType, Type } from '../ir/types.ts'
import { compileExpr, type ExprContext, tsType } from './expressions.ts'
import { propertyKey } from './property.ts'

const MAX_SAFE = 'Number.MAX_SAFE_INTEGER'

/**
 * A cell of a row of numbers, as the runtime's StepState.findRow takes its layout
 * (runtime/state/number-rows.ts): 'number' one column (null as NaN), 'pair' avg's [sum, n].
 */
type RowCell = 'number' | 'pair'

type DedupStep = Extract<FusedStep, { kind: 'Dedup' }>
type AggregateStep = Extract<FusedStep, { kind: 'Aggregate' }>

export interface StatefulContext {
  /** Builds an expression context over the current row. */
  readonly expr: () => ExprContext
  /** This step's index in the chain, to name its variables. */
  readonly step: number
  /** Index of this step's state in `states`. */
  readonly slot: number
  /** The step's site index. */
  readonly site: number
  readonly typeName: (type: Type) => string | undefined
}

/** The chain's event time variable, set once per event by the loop. */
export const EVENT_TIME = 'time'

/** Statements of a dedup step (it `continue`s for a dropped event). */
export function dedupCode(step: DedupStep, ctx: StatefulContext): string[] {
  // `sk`, not `k`: the module's constants are k0, k1, … (ExprContext.constant), which a local k1 would hide.
  const k = `sk${ctx.step}`
  const s = `s${ctx.step}`
  const state = `states[${ctx.slot}]!`
  const keys = step.keys.map((key) => compileExpr(key, ctx.expr()))
  const live = `l${ctx.step}`
  return [
    `if (${EVENT_TIME} > ${state}.clock) ${state}.clock = ${EVENT_TIME}`,
    `const ${k} = ${stateKey(step.keys, keys)}`,
    `const ${s} = ${state}.get(${k}, ${EVENT_TIME}) as number | undefined`,
    // A stored time more than `within` behind the clock (less the source's lateness) is gone.
    `const ${live} = ${s} !== undefined && ${s} + ${step.withinMs} > ${state}.clock - ${state}.latenessMs`,
    `if (${live} && Math.abs(${EVENT_TIME} - ${s}) < ${step.withinMs}) continue`,
    `if (!${state}.set(${k}, ${live} && ${s} > ${EVENT_TIME} ? ${s} : ${EVENT_TIME}, ${EVENT_TIME})) stateFull(${JSON.stringify(step.state.id)}, ${ctx.site})`,
  ]
}

/** Statements of an aggregate step; the last declares `next`, the step's output row. */
export function aggregateCode(step: AggregateStep, ctx: StatefulContext, next: string): string[] {
  const n = ctx.step
  const lines: string[] = []
  const keyVars = step.keys.map((key, i) => {
    const v = `kv${n}_${i}`
    lines.push(`const ${v} = ${compileExpr(key.value, ctx.expr())}`)
    return v
  })
  const argVars = step.aggregates.map((aggregate, i) => {
    if (aggregate.arg === null) return 'null'
    const v = `av${n}_${i}`
    lines.push(`const ${v} = ${compileExpr(aggregate.arg, ctx.expr())}`)
    return v
  })
  const k = `sk${n}`
  lines.push(
    `const ${k} = ${stateKey(
      step.keys.map((key) => key.value),
      keyVars,
    )}`,
  )
  const code: AccumulatorCode = {
    step,
    ctx,
    key: k,
    args: argVars,
    full: `stateFull(${JSON.stringify(step.state.id)}, ${ctx.site})`,
    lines,
  }
  const layout = rowLayout(step.aggregates)
  const accVars = layout === null ? objectAccumulators(code) : rowAccumulators(code, layout)
  const fields = [
    ...step.keys.map((key, i) => `${propertyKey(key.name)}: ${keyVars[i]}`),
    ...step.aggregates.map(
      (aggregate, i) => `${propertyKey(aggregate.name)}: ${output(aggregate, accVars[i]!)}`,
    ),
  ]
  lines.push(`const ${next}: ${tsType(step.schema as RecordType, ctx.typeName)} = { ${fields.join(', ')} }`)
  return lines
}

/** What the accumulators' statements of an aggregate step are written from, and into (`lines`). */
interface AccumulatorCode {
  readonly step: AggregateStep
  readonly ctx: StatefulContext
  /** The variable of the state key. */
  readonly key: string
  /** Each aggregate's argument variable ('null' for count). */
  readonly args: readonly string[]
  /** The statement that fails the event when the state refuses a new key. */
  readonly full: string
  readonly lines: string[]
}

/** A running aggregate's accumulators kept as one array per key (`get` and `set`); their variables. */
function objectAccumulators({ step, ctx, key: k, args: argVars, full, lines }: AccumulatorCode): string[] {
  const n = ctx.step
  const state = `states[${ctx.slot}]!`
  const p = `p${n}`
  lines.push(`const ${p} = ${state}.get(${k}, ${EVENT_TIME}) as unknown[] | undefined`)
  const accVars = step.aggregates.map((aggregate, i) => {
    const v = `a${n}_${i}`
    const before = (initial: string, type: string) =>
      `(${p} === undefined ? ${initial} : (${p}[${i}] as ${type}))`
    lines.push(`const ${v} = ${accumulate(aggregate, before, argVars[i]!, ctx.site)}`)
    return v
  })
  lines.push(`if (!${state}.set(${k}, [${accVars.join(', ')}], ${EVENT_TIME})) ${full}`)
  return accVars
}

/** A running aggregate's accumulators kept as a row of numbers per key (findRow, setRow); their variables. */
function rowAccumulators(
  { step, ctx, key: k, args: argVars, full, lines }: AccumulatorCode,
  layout: readonly RowCell[],
): string[] {
  const n = ctx.step
  const state = `states[${ctx.slot}]!`
  const p = `p${n}`
  const c = `c${n}`
  const w = `w${n}`
  const layoutConstant = ctx.expr().constant(`${JSON.stringify(layout)} as const`)
  lines.push(
    `const ${p} = ${state}.findRow(${k}, ${EVENT_TIME}, ${layoutConstant})`,
    `const ${c} = ${state}.rows`,
  )
  const columns = columnsOf(layout)
  const accVars = step.aggregates.map((aggregate, i) => {
    const v = `a${n}_${i}`
    const column = `${p} + ${columns[i]}`
    const before = (initial: string) => {
      const stored =
        layout[i] === 'pair'
          ? `[${c}[${column}]!, ${c}[${column} + 1]!] as [number, number]`
          : aggregate.fn === 'count'
            ? `${c}[${column}]!`
            : `nullIfNaN(${c}[${column}]!)`
      return `(${p} < 0 ? ${initial} : ${stored})`
    }
    lines.push(`const ${v} = ${accumulate(aggregate, before, argVars[i]!, ctx.site)}`)
    return v
  })
  lines.push(`const ${w} = ${state}.rowScratch`)
  step.aggregates.forEach((aggregate, i) => {
    const v = accVars[i]!
    if (layout[i] === 'pair')
      lines.push(`${w}[${columns[i]}] = ${v}[0]`, `${w}[${columns[i]! + 1}] = ${v}[1]`)
    else lines.push(`${w}[${columns[i]}] = ${aggregate.fn === 'count' ? v : `${v} ?? Number.NaN`}`)
  })
  lines.push(`if (!${state}.setRow(${k}, ${EVENT_TIME})) ${full}`)
  return accVars
}

/**
 * The cells of a row of numbers for these aggregates (runtime/state/number-rows.ts): count, sum,
 * min and max of numbers one column each, avg two; null when one is a min or max of strings,
 * whose accumulators are kept as an array per key instead.
 */
export function rowLayout(aggregates: readonly AggregateField[]): RowCell[] | null {
  const cells: RowCell[] = []
  for (const aggregate of aggregates) {
    if (aggregate.arg !== null && unwrapOptional(aggregate.arg.type).kind === 'string') return null
    cells.push(aggregate.fn === 'avg' ? 'pair' : 'number')
  }
  return cells
}

/** Each cell's first column in a row. */
function columnsOf(layout: readonly RowCell[]): number[] {
  let column = 0
  return layout.map((cell) => {
    const first = column
    column += cell === 'pair' ? 2 : 1
    return first
  })
}

/** The state key: one required string as it is, anything else as JSON (of the array, for several keys). */
function stateKey(keys: readonly Expr[], codes: readonly string[]): string {
  if (keys.length === 1 && keys[0]!.type.kind === 'string') return codes[0]!
  if (keys.length === 1) return `JSON.stringify(${codes[0]})`
  return `JSON.stringify([${codes.join(', ')}])`
}

/**
 * The new accumulator of one aggregate from the stored one: `before(initial, type)` is the stored
 * accumulator of that type, or `initial` when the key has none.
 */
function accumulate(
  aggregate: AggregateField,
  before: (initial: string, type: string) => string,
  arg: string,
  site: number,
): string {
  const kind = aggregate.arg === null ? null : unwrapOptional(aggregate.arg.type).kind
  switch (aggregate.fn) {
    case 'count':
      return `${before('0', 'number')} + 1`
    case 'sum':
      return kind === 'f64'
        ? `sumF64(${before('null', 'number | null')}, ${arg}, ${site})`
        : `sumI64(${before('null', 'number | null')}, ${arg}, ${site})`
    case 'avg':
      return `avgAcc(${before('[0, 0]', '[number, number]')}, ${arg}, ${site})`
    case 'min':
    case 'max': {
      const type = kind === 'string' ? 'string' : 'number'
      const checked = kind === 'f64' ? `finiteArg(${arg}, '${aggregate.fn}', ${site})` : arg
      return `${aggregate.fn}Acc<${type}>(${before('null', `${type} | null`)}, ${checked})`
    }
  }
}

/** An aggregate's output value from its accumulator, typed as the output field. */
function output(aggregate: AggregateField, acc: string): string {
  const value = aggregate.fn === 'avg' ? `avgValue(${acc})` : acc
  return isOptional(aggregate.type) || aggregate.fn === 'count'
    ? value
    : `(${value} as ${tsType(aggregate.type)})`
}

/** Helpers of the stateful steps; emitted once per generated module. */
export const STATEFUL_HELPERS = `
  function stateFull(step: string, site: number): never {
    throw new EvaluationError(\`the state of step \${step} is full: its budget refuses new keys\`, site)
  }
  function finiteArg<T extends number | null>(value: T, fn: string, site: number): T {
    if (value !== null && !Number.isFinite(value)) {
      throw new EvaluationError(\`\${fn} of \${value}: aggregates take finite numbers only\`, site)
    }
    return value
  }
  function sumI64(before: number | null, value: number | null, site: number): number | null {
    if (value === null) return before
    if (before === null) return value
    const sum = before + value
    if (sum > ${MAX_SAFE} || sum < -${MAX_SAFE}) throw new EvaluationError('i64 overflow in sum', site)
    return sum
  }
  function sumF64(before: number | null, value: number | null, site: number): number | null {
    if (finiteArg(value, 'sum', site) === null) return before
    if (before === null) return value
    const sum = before + (value as number)
    if (!Number.isFinite(sum)) throw new EvaluationError('f64 overflow in sum', site)
    return sum
  }
  function avgAcc(before: [number, number], value: number | null, site: number): [number, number] {
    if (finiteArg(value, 'avg', site) === null) return before
    const sum = before[0] + (value as number)
    if (!Number.isFinite(sum)) throw new EvaluationError('f64 overflow in avg', site)
    return [sum, before[1] + 1]
  }
  function nullIfNaN(value: number): number | null {
    return value !== value ? null : value
  }
  function avgValue(acc: [number, number]): number | null {
    return acc[1] === 0 ? null : acc[0] / acc[1]
  }
  function minAcc<T extends number | string>(before: T | null, value: T | null): T | null {
    return value === null ? before : before === null || value < before ? value : before
  }
  function maxAcc<T extends number | string>(before: T | null, value: T | null): T | null {
    return value === null ? before : before === null || value > before ? value : before
  }
`
