import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { EvaluationError } from '../../stdlib/eval-error.ts'
import {
  createInterpreter,
  type FunctionTable,
  type InterpreterError,
  type InterpreterEvent,
  type SinkOutput,
} from './interpret.ts'
import type {
  BinaryOp,
  Expr,
  FusedStep,
  Node,
  Pipeline,
  RecordType,
  ScalarTypeKind,
  Span,
  Type,
} from './types.ts'

// ---------------------------------------------------------------------------------------------
// Small IR builders (no parser involved)

const span: Span = { file: 'test.pipe', start: 0, end: 0 }
const t = (kind: ScalarTypeKind): Type => ({ kind })
const opt = (of: Type): Type => ({ kind: 'optional', of })
const I64 = t('i64')
const F64 = t('f64')
const STR = t('string')
const BOOL = t('bool')
const TS = t('timestamp')

const lit = (
  value: string | number | boolean | null,
  type: Type = value === null ? { kind: 'null' } : I64,
): Expr => ({
  kind: 'Literal',
  value,
  type,
  span,
})
const col = (name: string, type: Type = I64): Expr => ({ kind: 'Column', name, type, span })
const bin = (op: BinaryOp, left: Expr, right: Expr, type: Type): Expr => ({
  kind: 'Binary',
  op,
  left,
  right,
  type,
  span,
})

const record = (fields: Record<string, Type>, name?: string): RecordType => ({
  kind: 'record',
  ...(name === undefined ? {} : { name }),
  fields: Object.entries(fields).map(([fieldName, type]) => ({ name: fieldName, type })),
})

const anyRecord = record({})

function pipelineOf(nodes: Node[]): Pipeline {
  return { kind: 'Pipeline', irVersion: 0, file: 'test.pipe', schemas: {}, streams: {}, nodes }
}

const source = (id: string, name = id): Node => ({
  kind: 'Source',
  id,
  name,
  span,
  schema: anyRecord,
  connector: { kind: 'kafka', topic: name },
  eventTimeField: null,
  watermark: null,
})
const sink = (id: string, input: string): Node => ({
  kind: 'Sink',
  id,
  input,
  span,
  schema: anyRecord,
  connector: { kind: 'stdout' },
  name: input,
  recordTimestamp: 'event',
})
const filter = (id: string, input: string, predicate: Expr): Node => ({
  kind: 'Filter',
  id,
  input,
  predicate,
  span,
  schema: anyRecord,
})
const map = (id: string, input: string, fields: Record<string, Expr>): Node => ({
  kind: 'Map',
  id,
  input,
  span,
  schema: anyRecord,
  fields: Object.entries(fields).map(([name, value]) => ({ name, value, span })),
})
const keyBy = (id: string, input: string, key: Expr): Node => ({
  kind: 'KeyBy',
  id,
  input,
  key,
  span,
  schema: anyRecord,
})

const functions: FunctionTable = {
  upper: { nullPropagating: true, impl: (s: string) => s.toUpperCase() },
  describe: { nullPropagating: false, impl: (v: unknown) => (v === null ? 'nothing' : `got ${String(v)}`) },
  checked_sqrt: {
    nullPropagating: true,
    impl: (x: number) => {
      if (x < 0) throw new EvaluationError('sqrt of a negative number')
      return Math.sqrt(x)
    },
  },
  broken: {
    nullPropagating: false,
    impl: () => {
      throw new TypeError('a bug, not an evaluation error')
    },
  },
}

interface Run {
  outputs: SinkOutput[]
  errors: InterpreterError[]
}

function run(pipeline: Pipeline, events: readonly InterpreterEvent[], sourceName = 'in'): Run {
  const outputs: SinkOutput[] = []
  const errors: InterpreterError[] = []
  const interpreter = createInterpreter(pipeline, {
    functions,
    onSink: (output) => outputs.push(output),
    onError: (error) => errors.push(error),
  })
  for (const event of events) interpreter.push(sourceName, event)
  return { outputs, errors }
}

const ev = (
  value: Record<string, unknown>,
  key: string | null = null,
  timestamp = 1_000,
): InterpreterEvent => ({
  value,
  key,
  timestamp,
})

/** Evaluates `expr` over `row` by running it through a one-field Map. */
function evaluate(expr: Expr, row: Record<string, unknown> = {}): unknown {
  const result = run(pipelineOf([source('in'), map('m', 'in', { v: expr }), sink('out', 'm')]), [ev(row)])
  if (result.errors.length > 0) throw result.errors[0]!.error
  expect(result.outputs).toHaveLength(1)
  return result.outputs[0]!.value.v
}

// ---------------------------------------------------------------------------------------------

describe('expressions', () => {
  it('Literal returns its value', () => {
    expect(evaluate(lit(42))).toBe(42)
    expect(evaluate(lit('s', STR))).toBe('s')
    expect(evaluate(lit(true, BOOL))).toBe(true)
    expect(evaluate(lit(null))).toBeNull()
  })

  it('Column reads the field, and a missing field reads as null', () => {
    expect(evaluate(col('a'), { a: 7 })).toBe(7)
    expect(evaluate(col('a'), { b: 7 })).toBeNull()
    expect(evaluate(col('a'), { a: null })).toBeNull()
  })

  it('Member reads a nested field; null object or missing field gives null', () => {
    const member: Expr = { kind: 'Member', object: col('r', opt(anyRecord)), name: 'x', type: opt(I64), span }
    expect(evaluate(member, { r: { x: 3 } })).toBe(3)
    expect(evaluate(member, { r: null })).toBeNull()
    expect(evaluate(member, { r: {} })).toBeNull()
  })

  it('Index reads a list element; null list, null index, negative or out of range give null', () => {
    const listType: Type = { kind: 'list', of: STR }
    const index = (i: Expr): Expr => ({
      kind: 'Index',
      object: col('xs', opt(listType)),
      index: i,
      type: opt(STR),
      span,
    })
    const row = { xs: ['a', 'b', 'c'] }
    expect(evaluate(index(lit(0)), row)).toBe('a')
    expect(evaluate(index(lit(2)), row)).toBe('c')
    expect(evaluate(index(lit(3)), row)).toBeNull()
    expect(evaluate(index(lit(-1)), row)).toBeNull()
    expect(evaluate(index(lit(null)), row)).toBeNull()
    expect(evaluate(index(lit(0)), { xs: null })).toBeNull()
  })

  it('Unary neg and not propagate null', () => {
    const neg = (e: Expr): Expr => ({ kind: 'Unary', op: 'neg', operand: e, type: I64, span })
    const not = (e: Expr): Expr => ({ kind: 'Unary', op: 'not', operand: e, type: BOOL, span })
    expect(evaluate(neg(lit(5)))).toBe(-5)
    expect(evaluate(neg(lit(2.5, F64)))).toBe(-2.5)
    expect(evaluate(neg(lit(null)))).toBeNull()
    expect(evaluate(not(lit(true, BOOL)))).toBe(false)
    expect(evaluate(not(lit(false, BOOL)))).toBe(true)
    expect(evaluate(not(lit(null)))).toBeNull()
  })

  it('arithmetic and comparisons are null when either side is null', () => {
    for (const op of ['+', '-', '*', '/', '%'] as const) {
      expect(evaluate(bin(op, lit(null), lit(1), I64))).toBeNull()
      expect(evaluate(bin(op, lit(1), lit(null), I64))).toBeNull()
      expect(evaluate(bin(op, lit(null), lit(1, F64), F64))).toBeNull()
    }
    for (const op of ['==', '!=', '<', '<=', '>', '>='] as const) {
      expect(evaluate(bin(op, lit(null), lit(1), BOOL))).toBeNull()
      expect(evaluate(bin(op, lit(1), lit(null), BOOL))).toBeNull()
    }
  })

  it('f64 arithmetic follows IEEE 754', () => {
    expect(evaluate(bin('+', lit(0.1, F64), lit(0.2, F64), F64))).toBe(0.1 + 0.2)
    expect(evaluate(bin('/', lit(7, F64), lit(2, F64), F64))).toBe(3.5)
    expect(evaluate(bin('/', lit(1, F64), lit(0, F64), F64))).toBe(Number.POSITIVE_INFINITY)
    expect(evaluate(bin('/', lit(-1, F64), lit(0, F64), F64))).toBe(Number.NEGATIVE_INFINITY)
    expect(evaluate(bin('/', lit(0, F64), lit(0, F64), F64))).toBeNaN()
    expect(evaluate(bin('%', lit(7.5, F64), lit(2, F64), F64))).toBe(1.5)
    expect(evaluate(bin('%', lit(1, F64), lit(0, F64), F64))).toBeNaN()
    expect(evaluate(bin('*', lit(1e308, F64), lit(10, F64), F64))).toBe(Number.POSITIVE_INFINITY)
  })

  it('i64 division truncates toward zero and % keeps the sign of the dividend', () => {
    expect(evaluate(bin('/', lit(7), lit(2), I64))).toBe(3)
    expect(evaluate(bin('/', lit(-7), lit(2), I64))).toBe(-3)
    expect(evaluate(bin('/', lit(7), lit(-2), opt(I64)))).toBe(-3)
    expect(evaluate(bin('%', lit(7), lit(3), I64))).toBe(1)
    expect(evaluate(bin('%', lit(-7), lit(3), I64))).toBe(-1)
    expect(evaluate(bin('+', lit(2), lit(3), I64))).toBe(5)
    expect(evaluate(bin('-', lit(2), lit(3), I64))).toBe(-1)
    expect(evaluate(bin('*', lit(-4), lit(3), I64))).toBe(-12)
  })

  it('i64 division or remainder by zero is an evaluation error', () => {
    expect(() => evaluate(bin('/', lit(1), lit(0), I64))).toThrow(
      new EvaluationError('integer division by zero'),
    )
    expect(() => evaluate(bin('%', lit(1), lit(0), opt(I64)))).toThrow(
      new EvaluationError('integer division by zero'),
    )
  })

  it('i64 results outside the safe-integer range are an evaluation error', () => {
    const max = Number.MAX_SAFE_INTEGER
    expect(evaluate(bin('+', lit(max - 1), lit(1), I64))).toBe(max)
    expect(evaluate(bin('-', lit(-max + 1), lit(1), I64))).toBe(-max)
    expect(() => evaluate(bin('+', lit(max), lit(1), I64))).toThrow(new EvaluationError('i64 overflow'))
    expect(() => evaluate(bin('-', lit(-max), lit(1), I64))).toThrow(new EvaluationError('i64 overflow'))
    expect(() => evaluate(bin('*', lit(2 ** 27), lit(2 ** 27), I64))).toThrow(
      new EvaluationError('i64 overflow'),
    )
    // The same operation typed f64 is not checked.
    expect(evaluate(bin('+', lit(max, F64), lit(1, F64), F64))).toBe(max + 1)
  })

  it('+ on strings concatenates', () => {
    expect(evaluate(bin('+', col('a', STR), lit('!', STR), STR), { a: 'hi' })).toBe('hi!')
    expect(evaluate(bin('+', col('a', opt(STR)), lit('!', STR), opt(STR)), { a: null })).toBeNull()
  })

  it('comparisons work on numbers and strings; == and != are strict', () => {
    expect(evaluate(bin('<', lit(1), lit(2), BOOL))).toBe(true)
    expect(evaluate(bin('<=', lit(2), lit(2), BOOL))).toBe(true)
    expect(evaluate(bin('>', lit(1), lit(2), BOOL))).toBe(false)
    expect(evaluate(bin('>=', lit(3), lit(2), BOOL))).toBe(true)
    expect(evaluate(bin('<', lit('apple', STR), lit('banana', STR), BOOL))).toBe(true)
    expect(evaluate(bin('==', lit('a', STR), lit('a', STR), BOOL))).toBe(true)
    expect(evaluate(bin('!=', lit('a', STR), lit('b', STR), BOOL))).toBe(true)
    expect(evaluate(bin('==', lit(true, BOOL), lit(true, BOOL), BOOL))).toBe(true)
    expect(evaluate(bin('==', lit(1), lit(1, F64), BOOL))).toBe(true)
    expect(evaluate(bin('==', lit(Number.NaN, F64), lit(Number.NaN, F64), BOOL))).toBe(false)
    expect(evaluate(bin('!=', lit(Number.NaN, F64), lit(Number.NaN, F64), BOOL))).toBe(true)
  })

  it('and/or follow three-valued logic over every combination', () => {
    const values = [true, false, null] as const
    const and3 = (a: boolean | null, b: boolean | null) =>
      a === false || b === false ? false : a === null || b === null ? null : true
    const or3 = (a: boolean | null, b: boolean | null) =>
      a === true || b === true ? true : a === null || b === null ? null : false
    for (const a of values) {
      for (const b of values) {
        expect(evaluate(bin('and', lit(a, BOOL), lit(b, BOOL), opt(BOOL))), `${a} and ${b}`).toBe(and3(a, b))
        expect(evaluate(bin('or', lit(a, BOOL), lit(b, BOOL), opt(BOOL))), `${a} or ${b}`).toBe(or3(a, b))
      }
    }
  })

  it('and/or short-circuit: the right side runs only when the left does not decide', () => {
    const boom = bin('==', bin('/', lit(1), lit(0), I64), lit(1), BOOL)
    expect(evaluate(bin('and', lit(false, BOOL), boom, BOOL))).toBe(false)
    expect(evaluate(bin('or', lit(true, BOOL), boom, BOOL))).toBe(true)
    for (const undecided of [true, null]) {
      expect(() => evaluate(bin('and', lit(undecided, BOOL), boom, opt(BOOL)))).toThrow(EvaluationError)
    }
    for (const undecided of [false, null]) {
      expect(() => evaluate(bin('or', lit(undecided, BOOL), boom, opt(BOOL)))).toThrow(EvaluationError)
    }
    // The guard idiom: b != 0 and a / b > 1.
    const guarded = bin(
      'and',
      bin('!=', col('b'), lit(0), BOOL),
      bin('>', bin('/', col('a'), col('b'), I64), lit(1), BOOL),
      BOOL,
    )
    expect(evaluate(guarded, { a: 5, b: 0 })).toBe(false)
    expect(evaluate(guarded, { a: 5, b: 2 })).toBe(true)
  })

  it('Coalesce returns the left side unless it is null, and evaluates the right only then', () => {
    const coalesce = (left: Expr, right: Expr): Expr => ({ kind: 'Coalesce', left, right, type: I64, span })
    expect(evaluate(coalesce(col('a', opt(I64)), lit(9)), { a: 1 })).toBe(1)
    expect(evaluate(coalesce(col('a', opt(I64)), lit(9)), { a: null })).toBe(9)
    expect(evaluate(coalesce(col('a', opt(I64)), lit(9)), {})).toBe(9)
    expect(evaluate(coalesce(col('a', opt(BOOL)), lit(true, BOOL)), { a: false })).toBe(false)
    expect(evaluate(coalesce(col('a', opt(I64)), lit(9)), { a: 0 })).toBe(0)
    const boom = bin('/', lit(1), lit(0), I64)
    expect(evaluate(coalesce(col('a', opt(I64)), boom), { a: 1 })).toBe(1)
    expect(() => evaluate(coalesce(col('a', opt(I64)), boom), { a: null })).toThrow(EvaluationError)
  })

  it('IsNull and its negation', () => {
    const isNull = (negated: boolean): Expr => ({
      kind: 'IsNull',
      operand: col('a', opt(I64)),
      negated,
      type: BOOL,
      span,
    })
    expect(evaluate(isNull(false), { a: null })).toBe(true)
    expect(evaluate(isNull(false), {})).toBe(true)
    expect(evaluate(isNull(false), { a: 0 })).toBe(false)
    expect(evaluate(isNull(true), { a: null })).toBe(false)
    expect(evaluate(isNull(true), { a: 0 })).toBe(true)
  })

  it('Conditional takes the then branch only on true; false and null take else; one branch runs', () => {
    const cond = (condition: Expr, then: Expr, otherwise: Expr): Expr => ({
      kind: 'Conditional',
      condition,
      whenTrue: then,
      whenFalse: otherwise,
      type: STR,
      span,
    })
    const c = col('c', opt(BOOL))
    expect(evaluate(cond(c, lit('yes', STR), lit('no', STR)), { c: true })).toBe('yes')
    expect(evaluate(cond(c, lit('yes', STR), lit('no', STR)), { c: false })).toBe('no')
    expect(evaluate(cond(c, lit('yes', STR), lit('no', STR)), { c: null })).toBe('no')
    const boom = bin('/', lit(1), lit(0), I64)
    expect(evaluate(cond(c, lit(1), boom), { c: true })).toBe(1)
    expect(evaluate(cond(c, boom, lit(2)), { c: null })).toBe(2)
    expect(() => evaluate(cond(c, boom, lit(2)), { c: true })).toThrow(EvaluationError)
  })

  it('Call invokes the function; a null-propagating function returns null on any null argument', () => {
    const call = (fn: string, args: Expr[]): Expr => ({ kind: 'Call', fn, args, type: opt(STR), span })
    expect(evaluate(call('upper', [col('s', opt(STR))]), { s: 'ab' })).toBe('AB')
    expect(evaluate(call('upper', [col('s', opt(STR))]), { s: null })).toBeNull()
    expect(evaluate(call('describe', [col('s', opt(STR))]), { s: null })).toBe('nothing')
    expect(evaluate(call('describe', [col('s', opt(STR))]), { s: 'x' })).toBe('got x')
    expect(evaluate(call('checked_sqrt', [lit(16, F64)]))).toBe(4)
    expect(() => evaluate(call('checked_sqrt', [lit(-1, F64)]))).toThrow(
      new EvaluationError('sqrt of a negative number'),
    )
  })

  it('calls the real stdlib by default', () => {
    const call: Expr = { kind: 'Call', fn: 'to_i64', args: [col('x', opt(F64))], type: opt(I64), span }
    const p = pipelineOf([source('in'), map('m', 'in', { v: call }), sink('out', 'm')])
    const outputs: SinkOutput[] = []
    const errors: InterpreterError[] = []
    const interpreter = createInterpreter(p, {
      onSink: (o) => outputs.push(o),
      onError: (e) => errors.push(e),
    })
    interpreter.push('in', ev({ x: 12.75 }))
    interpreter.push('in', ev({ x: null }))
    interpreter.push('in', ev({ x: Number.POSITIVE_INFINITY }))
    expect(outputs.map((o) => o.value.v)).toEqual([12, null])
    expect(errors).toHaveLength(1)
    expect(errors[0]!.error).toBeInstanceOf(EvaluationError)
  })

  it('Call of an unknown function fails when the interpreter is built', () => {
    const call: Expr = { kind: 'Call', fn: 'nope', args: [], type: STR, span }
    expect(() =>
      createInterpreter(pipelineOf([source('in'), map('m', 'in', { v: call }), sink('out', 'm')]), {
        functions,
        onSink: () => {},
      }),
    ).toThrow("unknown function 'nope'")
  })

  it('an exception that is not an EvaluationError is a bug and propagates', () => {
    const call: Expr = { kind: 'Call', fn: 'broken', args: [], type: STR, span }
    expect(() => evaluate(call)).toThrow(TypeError)
  })

  it('Record builds a new object with the fields in order; List builds an array', () => {
    const rec: Expr = {
      kind: 'Record',
      fields: [
        { name: 'z', value: col('a') },
        { name: 'a', value: lit('s', STR) },
      ],
      type: record({ z: I64, a: STR }),
      span,
    }
    const value = evaluate(rec, { a: 1 }) as Record<string, unknown>
    expect(value).toEqual({ z: 1, a: 's' })
    expect(Object.keys(value)).toEqual(['z', 'a'])
    const list: Expr = {
      kind: 'List',
      items: [col('a'), lit(null), lit(3)],
      type: { kind: 'list', of: opt(I64) },
      span,
    }
    expect(evaluate(list, { a: 1 })).toEqual([1, null, 3])
  })
})

describe('operators', () => {
  it('Filter keeps only events whose predicate is true', () => {
    const p = pipelineOf([source('in'), filter('f', 'in', col('ok', opt(BOOL))), sink('out', 'f')])
    const { outputs } = run(p, [
      ev({ ok: true, n: 1 }),
      ev({ ok: false, n: 2 }),
      ev({ ok: null, n: 3 }),
      ev({ n: 4 }),
    ])
    expect(outputs.map((o) => o.value.n)).toEqual([1])
  })

  it('Map builds a record in declaration order and keeps key and timestamp', () => {
    const p = pipelineOf([
      source('in'),
      map('m', 'in', { b: col('b'), a: bin('*', col('a'), lit(2), I64) }),
      sink('out', 'm'),
    ])
    const { outputs } = run(p, [ev({ a: 1, b: 2, c: 3 }, 'k', 123)])
    expect(outputs).toEqual([{ sinkId: 'out', value: { b: 2, a: 2 }, key: 'k', timestamp: 123 }])
    expect(Object.keys(outputs[0]!.value)).toEqual(['b', 'a'])
  })

  it('KeyBy sets the key from the string form of the key expression and keeps value and timestamp', () => {
    const cases: [Expr, Record<string, unknown>, string | null][] = [
      [col('s', opt(STR)), { s: 'card-1' }, 'card-1'],
      [col('s', opt(STR)), { s: null }, null],
      [col('n', I64), { n: 42 }, '42'],
      [col('n', I64), { n: -7 }, '-7'],
      [col('x', F64), { x: 1.5 }, '1.5'],
      [col('x', F64), { x: 1e21 }, '1e+21'],
      [col('b', BOOL), { b: true }, 'true'],
      [col('b', opt(BOOL)), { b: false }, 'false'],
      [col('t', TS), { t: 0 }, '1970-01-01T00:00:00.000Z'],
      [col('t', opt(TS)), { t: 1_700_000_000_123 }, '2023-11-14T22:13:20.123Z'],
      [col('t', opt(TS)), { t: null }, null],
      [lit(null), {}, null],
    ]
    for (const [key, row, expected] of cases) {
      const p = pipelineOf([source('in'), keyBy('k', 'in', key), sink('out', 'k')])
      const { outputs } = run(p, [ev(row, 'old', 55)])
      expect(outputs, JSON.stringify(row)).toEqual([
        { sinkId: 'out', value: row, key: expected, timestamp: 55 },
      ])
    }
  })

  it('KeyBy on a timestamp a Date cannot represent is an evaluation error', () => {
    const p = pipelineOf([source('in'), keyBy('k', 'in', col('t', TS)), sink('out', 'k')])
    const { outputs, errors } = run(p, [ev({ t: 9e15 })])
    expect(outputs).toEqual([])
    expect(errors).toHaveLength(1)
    expect(errors[0]!.error).toBeInstanceOf(EvaluationError)
  })

  it('KeyBy on a record type is rejected when the interpreter is built', () => {
    const p = pipelineOf([source('in'), keyBy('k', 'in', col('r', anyRecord)), sink('out', 'k')])
    expect(() => createInterpreter(p, { functions, onSink: () => {} })).toThrow('cannot key by')
  })

  it('an evaluation error drops the event from that branch only and is reported once', () => {
    // in ─┬─ m1 (a / b) ─ out1
    //     └─ out2
    const p = pipelineOf([
      source('in'),
      map('m1', 'in', { q: bin('/', col('a'), col('b'), I64) }),
      sink('out1', 'm1'),
      sink('out2', 'in'),
    ])
    const events = [ev({ a: 6, b: 3 }), ev({ a: 1, b: 0 }, 'k2', 7), ev({ a: 9, b: 3 })]
    const { outputs, errors } = run(p, events)
    expect(outputs.map((o) => [o.sinkId, o.value])).toEqual([
      ['out1', { q: 2 }],
      ['out2', { a: 6, b: 3 }],
      ['out2', { a: 1, b: 0 }],
      ['out1', { q: 3 }],
      ['out2', { a: 9, b: 3 }],
    ])
    expect(errors).toEqual([
      { sourceName: 'in', event: events[1], error: new EvaluationError('integer division by zero') },
    ])
    expect(errors[0]!.event).toBe(events[1])
  })

  it('without an error collector an evaluation error is rethrown', () => {
    const p = pipelineOf([
      source('in'),
      map('m', 'in', { q: bin('%', lit(1), lit(0), I64) }),
      sink('out', 'm'),
    ])
    const interpreter = createInterpreter(p, { functions, onSink: () => {} })
    expect(() => interpreter.push('in', ev({}))).toThrow(EvaluationError)
  })

  it('routes each source to its own operators and names the source in errors', () => {
    const p = pipelineOf([
      source('a_src', 'a'),
      source('b_src', 'b'),
      map('ma', 'a_src', { from: lit('a', STR) }),
      map('mb', 'b_src', { d: bin('/', lit(1), col('x'), I64) }),
      sink('out', 'ma'),
      sink('out_b', 'mb'),
    ])
    const outputs: SinkOutput[] = []
    const errors: InterpreterError[] = []
    const interpreter = createInterpreter(p, {
      functions,
      onSink: (o) => outputs.push(o),
      onError: (e) => errors.push(e),
    })
    expect(interpreter.sources).toEqual(['a', 'b'])
    interpreter.push('a', ev({}))
    interpreter.push('b', ev({ x: 0 }))
    interpreter.push('b', ev({ x: 1 }))
    expect(outputs.map((o) => [o.sinkId, o.value])).toEqual([
      ['out', { from: 'a' }],
      ['out_b', { d: 1 }],
    ])
    expect(errors.map((e) => e.sourceName)).toEqual(['b'])
    expect(() => interpreter.push('c', ev({}))).toThrow("unknown source 'c'")
  })

  it('rejects malformed pipelines', () => {
    const build = (nodes: Node[]) => () =>
      createInterpreter(pipelineOf(nodes), { functions, onSink: () => {} })
    expect(build([source('in'), sink('out', 'nowhere')])).toThrow("unknown input 'nowhere'")
    expect(build([sink('out', 'in'), source('in')])).toThrow('comes before its input')
    expect(build([source('in'), source('in', 'other')])).toThrow("duplicate node id 'in'")
    expect(build([source('a', 'x'), source('b', 'x')])).toThrow("duplicate source name 'x'")
  })
})

describe('Fused nodes', () => {
  // where amount > 100.0 and country != "US" | select { id, card, cents: amount * 100.0 } | key by card
  const predicate = bin(
    'and',
    bin('>', col('amount', F64), lit(100, F64), BOOL),
    bin('!=', col('country', STR), lit('US', STR), BOOL),
    BOOL,
  )
  const fields = {
    id: col('id', STR),
    card: col('card', STR),
    cents: bin('*', col('amount', F64), lit(100, F64), F64),
    country: col('country', STR),
  }
  const key = col('card', STR)

  const unfused = pipelineOf([
    source('in'),
    filter('f', 'in', predicate),
    map('m', 'f', fields),
    keyBy('k', 'm', key),
    sink('out', 'k'),
  ])
  const steps: FusedStep[] = [
    { kind: 'Filter', predicate, span },
    {
      kind: 'Map',
      fields: Object.entries(fields).map(([name, value]) => ({ name, value, span })),
      schema: anyRecord,
      span,
    },
    { kind: 'KeyBy', key, span },
  ]
  const fused = pipelineOf([
    source('in'),
    {
      kind: 'Fused',
      id: 'chain',
      input: 'in',
      inputSchema: anyRecord,
      steps,
      fusedFrom: ['f', 'm', 'k'],
      span,
      schema: anyRecord,
    },
    sink('out', 'chain'),
  ])

  it('runs the steps in order', () => {
    const { outputs } = run(fused, [
      ev({ id: '1', card: 'c1', amount: 150, country: 'DE' }, null, 10),
      ev({ id: '2', card: 'c2', amount: 150, country: 'US' }, null, 11),
      ev({ id: '3', card: 'c3', amount: 50, country: 'FR' }, null, 12),
    ])
    expect(outputs).toEqual([
      {
        sinkId: 'out',
        value: { id: '1', card: 'c1', cents: 15000, country: 'DE' },
        key: 'c1',
        timestamp: 10,
      },
    ])
  })

  it('gives the same outputs as the unfused chain on random events', () => {
    const eventArb = fc.record({
      value: fc.record({
        id: fc.string(),
        card: fc.constantFrom('c1', 'c2', 'c3'),
        amount: fc.double({ noNaN: true, min: -1e6, max: 1e6 }),
        country: fc.constantFrom('US', 'DE', 'FR'),
      }),
      key: fc.option(fc.string(), { nil: null }),
      timestamp: fc.integer({ min: 0, max: 2 ** 42 }),
    })
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 30 }), (events) => {
        const a = run(unfused, events)
        const b = run(fused, events)
        expect(b.outputs).toEqual(a.outputs)
        expect(b.errors).toEqual(a.errors)
        expect(a.outputs.length).toBe(
          events.filter((e) => e.value.amount > 100 && e.value.country !== 'US').length,
        )
      }),
    )
  })

  it('reports an evaluation error inside a fused chain and keeps going', () => {
    const chain = pipelineOf([
      source('in'),
      {
        kind: 'Fused',
        id: 'chain',
        input: 'in',
        inputSchema: anyRecord,
        steps: [
          {
            kind: 'Map',
            fields: [{ name: 'q', value: bin('/', lit(10), col('d'), I64), span }],
            schema: anyRecord,
            span,
          },
          { kind: 'Filter', predicate: bin('>', col('q'), lit(1), BOOL), span },
        ],
        fusedFrom: ['m', 'f'],
        span,
        schema: anyRecord,
      },
      sink('out', 'chain'),
    ])
    const { outputs, errors } = run(chain, [ev({ d: 2 }), ev({ d: 0 }), ev({ d: 20 }), ev({ d: 5 })])
    expect(outputs.map((o) => o.value)).toEqual([{ q: 5 }, { q: 2 }])
    expect(errors.map((e) => e.event.value)).toEqual([{ d: 0 }])
  })
})
