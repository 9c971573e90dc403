import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isSluiceError } from '../../errors.ts'
import { ABORTED_FILE, AbortedRanges, mergeRanges, type OffsetRange } from './aborted.ts'

let dir: string

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-aborted-'))
})

afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** The reference: is `offset` inside one of `ranges`? */
const inside = (ranges: readonly OffsetRange[], offset: number) =>
  ranges.some((r) => r.from <= offset && offset < r.to)

const rangesArb = fc.array(
  fc.tuple(fc.nat(200), fc.integer({ min: 1, max: 20 })).map(([from, n]) => ({ from, to: from + n })),
  { maxLength: 12 },
)

describe('AbortedRanges', () => {
  it('skip and nextStart agree with a plain scan of the ranges', async () => {
    await fc.assert(
      fc.asyncProperty(rangesArb, fc.nat(260), async (ranges, offset) => {
        const aborted = AbortedRanges.empty(dir)
        await aborted.record(ranges, false)
        let expected = offset
        while (inside(ranges, expected)) expected++
        expect(aborted.skip(offset)).toBe(expected)
        const starts = mergeRanges(ranges)
          .map((r) => r.from)
          .filter((from) => from > offset)
        expect(aborted.nextStart(offset)).toBe(starts[0] ?? Number.POSITIVE_INFINITY)
      }),
      { numRuns: 200 },
    )
  })

  it('records durably, merged, and writes nothing for ranges already recorded', async () => {
    const aborted = AbortedRanges.empty(dir)
    await aborted.record([{ from: 10, to: 12 }], true)
    await aborted.record(
      [
        { from: 12, to: 15 },
        { from: 3, to: 4 },
      ],
      true,
    )
    const file = path.join(dir, ABORTED_FILE)
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({
      version: 1,
      aborted: [
        { from: 3, to: 4 },
        { from: 10, to: 15 },
      ],
    })
    await writeFile(file, 'overwritten on purpose')
    await aborted.record([{ from: 11, to: 14 }], true)
    expect(await readFile(file, 'utf8')).toBe('overwritten on purpose')
  })

  it('loads none without a file, and refuses a damaged one naming it', async () => {
    expect((await AbortedRanges.load(dir)).all).toEqual([])
    await writeFile(
      path.join(dir, ABORTED_FILE),
      JSON.stringify({ version: 1, aborted: [{ from: 5, to: 5 }] }),
    )
    const error = await AbortedRanges.load(dir).catch((e: unknown) => e)
    expect(isSluiceError(error, 'LOG_CORRUPT_SEGMENT')).toBe(true)
    expect((error as Error).message).toContain(ABORTED_FILE)
  })
})
