import { describe, expect, it } from 'vitest'
import { isArrayIndexName, propertyAccess, propertyKey } from './property.ts'

/** Evaluates `{ key: value }` built with propertyKey, then reads it back with propertyAccess. */
function roundTrip(name: string): { own: string[]; read: unknown; proto: unknown } {
  const code = `const o = { ${propertyKey(name)}: 42 }; return { own: Object.keys(o), read: ${propertyAccess('o', name)}, proto: Object.getPrototypeOf(o) === Object.prototype }`
  return new Function(code)() as { own: string[]; read: unknown; proto: unknown }
}

describe('field names in generated code', () => {
  it('keeps plain names bare and quotes every other name', () => {
    expect(propertyKey('amount')).toBe('amount')
    expect(propertyAccess('r', 'amount')).toBe('r.amount')
    expect(propertyKey('user-id')).toBe('"user-id"')
    expect(propertyAccess('r', 'a"b')).toBe('r["a\\"b"]')
  })

  it.each([
    'user-id',
    '@timestamp',
    'a"b',
    'a\\b',
    'x`$' + '{y}`',
    '\u2028',
    'constructor',
    'toString',
    '2',
    'if',
    '__proto__',
  ])('makes %j an own property and reads it back', (name) => {
    expect(roundTrip(name)).toEqual({ own: [name], read: 42, proto: true })
  })

  it('knows the names a JavaScript object orders first', () => {
    expect(['0', '2', '4294967294'].map(isArrayIndexName)).toEqual([true, true, true])
    expect(['01', '-1', '4294967295', '1.5', 'a'].map(isArrayIndexName)).toEqual([
      false,
      false,
      false,
      false,
      false,
    ])
  })
})
