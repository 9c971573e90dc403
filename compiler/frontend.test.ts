import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { formatDiagnostics } from './diagnostics/format.ts'
import { checkSource } from './frontend.ts'
import type { FilterNode, KeyByNode, MapNode, SinkNode, SourceNode } from './ir/types.ts'
import { KEYWORDS } from './parse/lexer.ts'

const EXAMPLE = `// line comments; /* block comments */
schema Address { city: string, zip: string? }
schema Payment {
  id: string,
  card: string,
  amount: f64,
  qty: i64,
  country: string?,
  tags: list<string>,
  address: Address,
  meta: { channel: string, risk: f64? },
  ts: timestamp @event_time
}
source payments: Payment from kafka("payments") watermark ts - 5s
stream big = payments
  | where amount > 1000.0 and country != "US"
  | select { id, card, cents: to_i64(amount * 100.0), country: country ?? "unknown", city: address.city, first_tag: tags[0], hour: hour(ts), ts,
      tier: case when amount between 1000.0 and 5000.0 then "mid" when country in ("DE", "FR") then "eu" else "top" end,
      promo: regex_match(card, "^4[0-9]{3}") and id not like "test%" }
  | key by card
stream flagged = big | where cents > 500000
sink big -> kafka("big-payments") timestamp append
sink flagged -> stdout
`

/** A second real input for the mutation fuzzing: the syntax issue 17 added, which EXAMPLE lacks. */
const ISSUE_17_EXAMPLE = `schema Line { sku: string, qty: i64, price: f64 }
schema Order {
  id: string,
  \`user-id\`: string,
  \`@timestamp\`: timestamp @event_time,
  lines: list<Line>,
  labels: map<string, string>,
  codes: list<list<i64>>,
  note: string?,
}
source web: Order from kafka("web-orders") watermark \`@timestamp\` - 5s
source shop: Order from kafka("shop-orders")
stream orders = union web, shop
  | where any(lines, l -> l.qty > 0) and id not in ("test", "demo") and len(id) between 1 and 64
  | select {
      * except (note) rename (\`user-id\` as user),
      total: sum(map(lines, l -> l.price * l.qty)),
      skus: map(filter(lines, l -> l.qty > 0), l -> upper(l.sku)),
      flat: flatten(codes),
      env: labels["env"] ?? "none",
      kind: case when id like "A%" then "a" when regex_match(id, "^[0-9]+$") then "n" else "x" end,
      week: date_trunc("week", \`@timestamp\`),
      local: format_time(\`@timestamp\`, "yyyy-MM-dd HH:mm", "Europe/Paris"),
      due: \`@timestamp\` + 1w,
      rkey: record_key(),
      tenant: record_header("tenant"),
    }
stream items = orders | explode skus as sku | select { id, sku, user }
sink orders -> kafka("priced") headers { "user-id": user, env: env }
sink items -> stdout
`

/** Checks the invariants every front-end answer must satisfy, whatever the input. */
function assertWellFormed(file: string, text: string): void {
  const result = checkSource(file, text)
  for (const d of result.diagnostics) {
    expect(d.code, d.message).not.toBe('E9999')
    expect(d.span.file).toBe(file)
    expect(d.span.start).toBeGreaterThanOrEqual(0)
    expect(d.span.end).toBeGreaterThanOrEqual(d.span.start)
    expect(d.span.end).toBeLessThanOrEqual(text.length)
    expect(d.message.length).toBeGreaterThan(0)
  }
  const hasError = result.diagnostics.some((d) => d.severity === 'error')
  expect(result.pipeline === null).toBe(hasError)
  expect(() => formatDiagnostics(result.diagnostics, new Map([[file, text]]), { color: true })).not.toThrow()
}

const TOKENS = [
  ...KEYWORDS,
  ...[
    '{',
    '}',
    '(',
    ')',
    '[',
    ']',
    '<',
    '>',
    ',',
    ':',
    '.',
    '|',
    '?',
    '??',
    '->',
    '+',
    '-',
    '*',
    '/',
    '%',
    '@',
    '=',
  ],
  ...['==', '!=', '<=', '>=', '@event_time', 'list<string>', 'kafka("t")', 'stdout'],
  ...[
    'Payment',
    'payments',
    'big',
    'amount',
    'ts',
    'card',
    'string',
    'i64',
    'f64',
    'timestamp',
    'bool',
    'list',
    'append',
    'event',
    'timestamp append',
  ],
  ...[
    '0',
    '42',
    '1.5',
    '1e3',
    '5s',
    '250ms',
    '9007199254740993',
    '5x',
    '"s"',
    '"unterminated',
    '"\\q"',
    '"\\u{110000}"',
  ],
  ...['to_i64', 'hour', 'coalesce', 'lower', '/*', '*/', '//', '\n', '#', '😀', '\u0000'],
  // The words of the stateful steps and their aggregates, alone and in working order.
  ...['dedup', 'aggregate', 'within', 'window', 'count', 'sum', 'min', 'max', 'avg', '0s'],
  ...['| dedup by card within 5s', '| aggregate by card { n: count(), t: sum(amount) }', 'count()'],
  // The SQL-style operators and case, whose words are not reserved.
  ...[
    'in',
    'between',
    'like',
    'case',
    'when',
    'end',
    'not in',
    'case when',
    '"a%"',
    'regex_match',
    '"("',
    '"(a+)+"',
  ],
  // The rest of issue 17's syntax, and the SQL and C spellings it gives hints for.
  ...['`user-id`', '`', '`@timestamp`', 'except', 'rename', 'select { * }', 'union', 'union a, b'],
  ...['explode', 'explode tags as tag', 'or null', 'map<string, i64>', 'l -> l.qty', 'headers'],
  ...['record_key()', 'record_header("h")', 'import function', 'from "./f.ts"', '1w', 'now()'],
  ...['&&', '||', '<>', '!', '--', 'AND', 'CASE', 'SELECT'],
]

describe('checkSource never throws', () => {
  it('on random strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) =>
        assertWellFormed('fuzz.pipe', text),
      ),
      { numRuns: 1000 },
    )
  })

  it('on random token soup', () => {
    const soup = fc
      .array(fc.tuple(fc.constantFrom(...TOKENS), fc.constantFrom(' ', '', '\n')), { maxLength: 80 })
      .map((parts) => parts.map(([token, sep]) => token + sep).join(''))
    fc.assert(
      fc.property(soup, (text) => assertWellFormed('soup.pipe', text)),
      { numRuns: 2000 },
    )
  })

  it('on the examples, which check cleanly as they are', () => {
    for (const text of [EXAMPLE, ISSUE_17_EXAMPLE])
      expect(checkSource('example.pipe', text).diagnostics).toEqual([])
  })

  it.each([
    ['the example', EXAMPLE],
    ["issue 17's example", ISSUE_17_EXAMPLE],
  ])('on %s with random slices deleted or repeated', (_, example) => {
    const edit = fc.record({
      at: fc.nat({ max: example.length }),
      length: fc.nat({ max: 40 }),
      repeat: fc.boolean(),
    })
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
        let text = example
        for (const e of edits) {
          const slice = text.slice(e.at, e.at + e.length)
          text = e.repeat
            ? text.slice(0, e.at) + slice + slice + text.slice(e.at)
            : text.slice(0, e.at) + text.slice(e.at + e.length)
        }
        assertWellFormed('mutated.pipe', text)
      }),
      { numRuns: 1000 },
    )
  })

  it('on nesting deep enough to overflow a naive recursive parser', () => {
    for (const text of [
      `stream s = x | where ${'('.repeat(50_000)}`,
      `stream s = x | where ${'-'.repeat(50_000)}a`,
      `stream s = x | where ${'not '.repeat(20_000)}a`,
      `stream s = x | where a${'.b'.repeat(50_000)}`,
      `schema S { a: ${'list<'.repeat(20_000)}`,
      `stream s = x | where ${'['.repeat(20_000)}`,
      `stream s = x | where ${'{a:'.repeat(20_000)}`,
    ]) {
      const result = checkSource('deep.pipe', text)
      expect(result.diagnostics.some((d) => d.code === 'E0104' || d.code === 'E0101')).toBe(true)
      assertWellFormed('deep.pipe', text)
    }
    // A flat chain of any length is one level (issue 17): no E0104, only the unknown `x`.
    const chain = `stream s = x | where a${' - a'.repeat(50_000)} > 0`
    const result = checkSource('deep.pipe', chain)
    expect(result.diagnostics.map((d) => d.code)).not.toContain('E0104')
    expect(result.diagnostics.length).toBeGreaterThan(0)
    assertWellFormed('deep.pipe', chain)
  })
})

describe('checkSource lowers the language example', () => {
  const { pipeline, diagnostics } = checkSource('example.pipe', EXAMPLE)

  it('has no diagnostics and a pipeline', () => {
    expect(diagnostics).toEqual([])
    expect(pipeline).not.toBeNull()
  })

  it('numbers nodes per stream and orders them topologically', () => {
    expect(pipeline!.nodes.map((n) => `${n.kind}:${n.id}`)).toEqual([
      'Source:payments',
      'Filter:big#1',
      'Map:big#2',
      'KeyBy:big#3',
      'Filter:flagged#1',
      'Sink:sink#1',
      'Sink:sink#2',
    ])
    expect(pipeline!.streams).toEqual({ payments: 'payments', big: 'big#3', flagged: 'flagged#1' })
    const ids = new Set<string>()
    for (const node of pipeline!.nodes) {
      if ('input' in node) expect(ids.has(node.input)).toBe(true)
      ids.add(node.id)
    }
  })

  it('lowers the source with its event time and watermark', () => {
    const source = pipeline!.nodes[0] as SourceNode
    expect(source).toMatchObject({
      name: 'payments',
      connector: { kind: 'kafka', topic: 'payments' },
      eventTimeField: 'ts',
      watermark: { field: 'ts', delayMs: 5000 },
    })
    expect(source.schema.name).toBe('Payment')
    expect(source.schema.fields.find((f) => f.name === 'address')?.type).toEqual({
      kind: 'record',
      name: 'Address',
      fields: [
        { name: 'city', type: { kind: 'string' } },
        { name: 'zip', type: { kind: 'optional', of: { kind: 'string' } } },
      ],
    })
    expect(pipeline!.schemas.Payment).toBe(source.schema)
  })

  it('types the select output and carries event time through a bare column', () => {
    const map = pipeline!.nodes[2] as MapNode
    expect(map.schema.fields).toEqual([
      { name: 'id', type: { kind: 'string' } },
      { name: 'card', type: { kind: 'string' } },
      { name: 'cents', type: { kind: 'i64' } },
      { name: 'country', type: { kind: 'string' } },
      { name: 'city', type: { kind: 'string' } },
      { name: 'first_tag', type: { kind: 'optional', of: { kind: 'string' } } },
      { name: 'hour', type: { kind: 'i64' } },
      { name: 'ts', type: { kind: 'timestamp' }, eventTime: true },
      { name: 'tier', type: { kind: 'string' } },
      { name: 'promo', type: { kind: 'bool' } },
    ])
    expect(map.fields[2]!.value).toMatchObject({
      kind: 'Call',
      fn: 'to_i64',
      type: { kind: 'i64' },
      args: [
        {
          kind: 'Binary',
          op: '*',
          type: { kind: 'f64' },
          left: { kind: 'Column', name: 'amount' },
          right: { kind: 'Literal', value: 100 },
        },
      ],
    })
    const text = EXAMPLE.slice(map.fields[2]!.span.start, map.fields[2]!.span.end)
    expect(text).toBe('cents: to_i64(amount * 100.0)')
  })

  it('keeps three-valued types: a comparison with an optional operand is bool?', () => {
    const filter = pipeline!.nodes[1] as FilterNode
    expect(filter.predicate).toMatchObject({
      kind: 'Binary',
      op: 'and',
      type: { kind: 'optional', of: { kind: 'bool' } },
      right: { op: '!=', type: { kind: 'optional', of: { kind: 'bool' } } },
    })
    expect(filter.schema).toBe((pipeline!.nodes[0] as SourceNode).schema)
  })

  it('keys by the card column and sinks the last node of each stream', () => {
    const keyBy = pipeline!.nodes[3] as KeyByNode
    expect(keyBy.key).toMatchObject({ kind: 'Column', name: 'card', type: { kind: 'string' } })
    const [s1, s2] = pipeline!.nodes.slice(5) as SinkNode[]
    expect(s1).toMatchObject({
      input: 'big#3',
      connector: { kind: 'kafka', topic: 'big-payments' },
      name: 'big',
      recordTimestamp: 'append',
    })
    expect(s2).toMatchObject({
      input: 'flagged#1',
      connector: { kind: 'stdout' },
      name: 'flagged',
      recordTimestamp: 'event',
    })
    expect(s2!.schema).toBe((pipeline!.nodes[4] as FilterNode).schema)
  })

  it('is JSON-serialisable', () => {
    expect(JSON.parse(JSON.stringify(pipeline))).toEqual(pipeline)
  })
})
