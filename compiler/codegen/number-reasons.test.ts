/**
 * Issue 17, defect 21: a decode failure's reason quotes a number as the event wrote it, not as
 * JSON.parse rounded it (9007199254740993 read as 9007199254740992, 1e400 as Infinity).
 */
import { afterAll, describe, expect, it } from 'vitest'
import { compileAndLoad, type LoadedModule, removeLoadedModules } from './load-generated.ts'

const PIPE = `schema Ev { id: string, n: i64, x: f64, tags: list<i64>?, nested: { a: i64, b: list<{ c: i64 }>? }?, at: timestamp @event_time }
source evs: Ev from kafka("evs")
sink evs -> kafka("out")
`

let loaded: LoadedModule | undefined
afterAll(removeLoadedModules)

async function reasonOf(json: string): Promise<string> {
  loaded ??= await compileAndLoad(PIPE)
  const source = loaded.operators.sources.evs!
  try {
    source.decodeJson(Buffer.from(json))
  } catch (error) {
    expect(loaded.operators.isDecodeFailure(error), String(error)).toBe(true)
    return (error as Error).message
  }
  throw new Error(`decoded: ${json}`)
}

describe('decode failure reasons of numbers JSON.parse rounds', () => {
  it('quote an integer beyond 2^53 as written', async () => {
    expect(await reasonOf('{"id":"a","n":9007199254740993,"x":1,"at":0}')).toBe(
      'n: expected an integer within ±(2^53-1), got number 9007199254740993',
    )
    expect(await reasonOf('{"id":"a","n":-90071992547409931,"x":1,"at":0}')).toBe(
      'n: expected an integer within ±(2^53-1), got number -90071992547409931',
    )
  })

  it('quote a number beyond the f64 range as written, not as Infinity', async () => {
    expect(await reasonOf('{"id":"a","n":1e400,"x":1,"at":0}')).toBe(
      'n: expected an integer within ±(2^53-1), got number 1e400',
    )
    expect(await reasonOf('{"id":"a","n":1,"x":-1E+400,"at":0}')).toBe(
      'x: expected a finite number, got number -1E+400',
    )
  })

  it('find the number inside lists and nested records, past strings, nesting and duplicate keys', async () => {
    const before = '"id":"a,b}]\\"[{","junk":[[{"n":1e999}],{"x":[]}],"n":1,"x":1,"at":0'
    expect(await reasonOf(`{${before},"tags":[1, 2 ,12345678901234567890]}`)).toBe(
      'tags[2]: expected an integer within ±(2^53-1), got number 12345678901234567890',
    )
    expect(
      await reasonOf(
        `{${before},"nested":{"a":1e400,"b":[{"c":2},{"c":9007199254740993.5}]},"nested":{"a":5,"b":[{"c":2},{"c":9007199254740993.5}]}}`,
      ),
    ).toBe('nested.b[1].c: expected an integer within ±(2^53-1), got number 9007199254740993.5')
  })

  it('keep other reasons as they were', async () => {
    expect(await reasonOf('{"id":"a","n":5.5,"x":1,"at":0}')).toBe(
      'n: expected an integer within ±(2^53-1), got number 5.5',
    )
    expect(await reasonOf('{"id":"a","n":"5","x":1,"at":0}')).toBe(
      'n: expected an integer within ±(2^53-1), got the string "5"',
    )
    expect(await reasonOf('42')).toBe('event: expected an object, got number 42')
  })
})
