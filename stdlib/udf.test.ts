import { describe, expect, it } from 'vitest'
import { EvaluationError } from './eval-error.ts'
import { t } from './types.ts'
import { bindUdfs, type UdfSignature, udfIsNullPropagating } from './udf.ts'

const half: UdfSignature = { name: 'half', params: [{ name: 'x', type: t.i64 }], result: t.i64 }
const tag: UdfSignature = {
  name: 'tag',
  params: [{ name: 's', type: t.optional(t.string) }],
  result: { kind: 'record', fields: [{ name: 'label', type: t.string }] },
}

describe('user-defined functions bound for generated code and the interpreter', () => {
  it('is null-propagating only when no parameter is optional', () => {
    expect(udfIsNullPropagating(half)).toBe(true)
    expect(udfIsNullPropagating(tag)).toBe(false)
  })

  it('returns what the function returns when it fits the declared type', () => {
    const { half: bound } = bindUdfs({ half: (x: number) => x / 2 }, [half])
    expect((bound!.impl as (x: number) => unknown)(8)).toBe(4)
  })

  it('turns a thrown exception into an evaluation error naming the function', () => {
    const { half: bound } = bindUdfs(
      {
        half: () => {
          throw new Error('odd number')
        },
      },
      [half],
    )
    const call = () => (bound!.impl as (x: number) => unknown)(3)
    expect(call).toThrow(EvaluationError)
    expect(call).toThrow('function `half` threw: odd number')
  })

  it('refuses a result that is not of the declared type', () => {
    const { half: bound } = bindUdfs({ half: (x: number) => x / 2 }, [half])
    expect(() => (bound!.impl as (x: number) => unknown)(3)).toThrow(
      'function `half` returned the number 1.5, not a `i64`',
    )
    const { tag: record } = bindUdfs({ tag: () => ({ label: undefined }) }, [tag])
    expect(() => (record!.impl as (s: string | null) => unknown)(null)).toThrow(
      'function `tag` returned a record whose `label` is null',
    )
    const { half: nothing } = bindUdfs({ half: () => undefined }, [half])
    expect(() => (nothing!.impl as (x: number) => unknown)(1)).toThrow('returned undefined')
  })

  it('refuses a bundle without the declared export', () => {
    expect(() => bindUdfs({}, [half])).toThrow('exports no function half')
  })
})
