import { parseArgs } from 'node:util'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  alternate,
  commitOptions,
  formatRatioSummary,
  type RoundFigure,
  ratiosByRound,
  readRevisions,
  readRoundFlags,
  roundOptions,
  roundOrder,
  wholeNumberFlag,
} from './ab-run.ts'
import { median } from './percentile.ts'

describe('flags', () => {
  const parse = (args: string[]) =>
    parseArgs({ args, options: { ...roundOptions({ rounds: 3, warmupRounds: 1 }), ...commitOptions('A,B') } })
      .values

  it('gives the bench’s defaults and reads what is given', () => {
    expect(readRoundFlags(parse([]))).toEqual({ rounds: 3, warmupRounds: 1, json: undefined })
    expect(readRoundFlags(parse(['--rounds', '2', '--warmup-rounds', '0', '--json', 'r.json']))).toEqual({
      rounds: 2,
      warmupRounds: 0,
      json: 'r.json',
    })
    expect(readRevisions(parse([]).commits)).toEqual(['A', 'B'])
    expect(readRevisions(parse(['--commits', ' HEAD~1 , worktree,']).commits)).toEqual(['HEAD~1', 'worktree'])
  })

  it('refuses what is not a whole number in range, naming the flag', () => {
    expect(() => readRoundFlags(parse(['--rounds', '0']))).toThrow(
      /--rounds takes a whole number of at least 1, got '0'/,
    )
    expect(() => readRoundFlags(parse(['--rounds', 'three']))).toThrow(/--rounds .* got 'three'/)
    expect(() => readRoundFlags(parse(['--rounds', '2.5']))).toThrow(/--rounds/)
    expect(() => readRoundFlags(parse(['--warmup-rounds=-1']))).toThrow(/--warmup-rounds .* at least 0/)
    expect(() => wholeNumberFlag('events', '', 1)).toThrow(/--events .* got ''/)
    expect(wholeNumberFlag('events', '1000', 1)).toBe(1000)
  })

  it('refuses an empty or repeated revision list', () => {
    expect(() => readRevisions(' , ')).toThrow(/at least one revision/)
    expect(() => readRevisions('HEAD,HEAD')).toThrow(/each revision once/)
  })
})

describe('roundOrder', () => {
  it('turns the order by one each round, so every variant runs first once in as many rounds', () => {
    expect([0, 1, 2, 3].map((r) => roundOrder(['a', 'b', 'c'], r))).toEqual([
      ['a', 'b', 'c'],
      ['b', 'c', 'a'],
      ['c', 'a', 'b'],
      ['a', 'b', 'c'],
    ])
    // Warm-up rounds are numbered 0, −1, …: the order turns on backwards.
    expect(roundOrder(['a', 'b', 'c'], -1)).toEqual(['c', 'a', 'b'])
  })
})

describe('alternate', () => {
  it('runs the warm-ups first, marked, then every group of every round in the turning order', async () => {
    const calls: string[] = []
    const runs = await alternate(
      ['A', 'B'],
      { rounds: 2, warmupRounds: 1 },
      (variant, { round, group }) => {
        calls.push(`${round}${group}${variant}`)
        return calls.length
      },
      ['x', 'y'],
    )
    expect(calls).toEqual([
      '0xA',
      '0xB',
      '0yA',
      '0yB',
      '1xB',
      '1xA',
      '1yB',
      '1yA',
      '2xA',
      '2xB',
      '2yA',
      '2yB',
    ])
    expect(runs.filter((r) => r.warmup).map((r) => r.round)).toEqual([0, 0, 0, 0])
    expect(runs[4]).toEqual({ round: 1, warmup: false, group: 'x', variant: 'B', result: 5 })
  })

  it('runs each variant once per round and group, and no more', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          variants: fc.integer({ min: 1, max: 4 }),
          rounds: fc.integer({ min: 1, max: 5 }),
          warmupRounds: fc.integer({ min: 0, max: 2 }),
        }),
        async ({ variants, rounds, warmupRounds }) => {
          const names = Array.from({ length: variants }, (_, i) => `v${i}`)
          const runs = await alternate(names, { rounds, warmupRounds }, () => null)
          expect(runs).toHaveLength(variants * (rounds + warmupRounds))
          for (let round = 1 - warmupRounds; round <= rounds; round++) {
            const inRound = runs.filter((r) => r.round === round).map((r) => r.variant)
            expect([...inRound].sort()).toEqual(names)
          }
        },
      ),
    )
  })

  it('stops at the first variant that throws, with its error', async () => {
    const ran: string[] = []
    const failing = alternate(['A', 'B'], { rounds: 3, warmupRounds: 0 }, (variant) => {
      ran.push(variant)
      if (variant === 'B') throw new Error('B failed')
    })
    await expect(failing).rejects.toThrow('B failed')
    expect(ran).toEqual(['A', 'B'])
  })
})

describe('ratiosByRound', () => {
  const figure = (round: number, variant: string, value: number): RoundFigure => ({ round, variant, value })

  it('divides each round by the baseline of the same round, with median and range', () => {
    // A busy round 2 slows both; B costs 10 % more in rounds 1 and 2, 20 % in round 3.
    const [b] = ratiosByRound(
      [
        figure(1, 'A', 10),
        figure(1, 'B', 11),
        figure(2, 'B', 22),
        figure(2, 'A', 20),
        figure(3, 'A', 10),
        figure(3, 'B', 12),
      ],
      'A',
    )
    expect(b).toMatchObject({ variant: 'B', baseline: 'A', rounds: 3 })
    const shown = (xs: readonly number[]) => xs.map((x) => x.toFixed(3))
    expect(shown(b!.ratios)).toEqual(['1.100', '1.100', '1.200'])
    expect(shown([b!.median, b!.min, b!.max])).toEqual(['1.100', '1.100', '1.200'])
  })

  it('leaves out rounds without both, and answers NaN when none pairs', () => {
    const [b] = ratiosByRound([figure(1, 'B', 5), figure(2, 'B', 9), figure(2, 'A', 10)], 'A')
    expect(b!.ratios).toEqual([0.9])
    const [alone] = ratiosByRound([figure(1, 'B', 5)], 'A')
    expect(alone!.rounds).toBe(0)
    expect(alone!.median).toBeNaN()
    expect(formatRatioSummary('CPU-s', alone!)).toMatch(/no round measured both/)
  })

  it('agrees with a brute-force pairing: per round the median of each side, then the median', () => {
    const figures = fc.array(
      fc.record({
        round: fc.integer({ min: 1, max: 4 }),
        variant: fc.constantFrom('A', 'B', 'C'),
        value: fc.double({ min: 0.5, max: 100, noNaN: true }),
      }),
      { maxLength: 30 },
    )
    fc.assert(
      fc.property(figures, (all) => {
        for (const summary of ratiosByRound(all, 'A')) {
          const expected: number[] = []
          for (let round = 1; round <= 4; round++) {
            const of = (v: string) =>
              all.filter((f) => f.round === round && f.variant === v).map((f) => f.value)
            if (of('A').length > 0 && of(summary.variant).length > 0)
              expected.push(median(of(summary.variant)) / median(of('A')))
          }
          expect(summary.ratios).toEqual(expected)
          if (expected.length > 0) {
            expect(summary.median).toBe(median(expected))
            expect(summary.min).toBe(Math.min(...expected))
            expect(summary.max).toBe(Math.max(...expected))
          }
        }
      }),
    )
  })

  it('formats median, range and every round', () => {
    const [b] = ratiosByRound(
      [figure(1, 'A', 2), figure(1, 'B', 1), figure(2, 'A', 4), figure(2, 'B', 3)],
      'A',
    )
    expect(formatRatioSummary('CPU-s', b!, 2)).toBe(
      'B / A (CPU-s): ×0.63, range ×0.50–×0.75 over 2 rounds (0.50, 0.75)',
    )
  })
})
