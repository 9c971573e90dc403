/**
 * Random joins and random interleavings of their two sides, for the JoinOperator properties
 * (interval-join, join-budget), checked against the brute-force reference (join-reference.ts).
 * What differs between the properties (how wide a bound, how many keys, how often a `where` drops
 * a record) is a parameter; the generation is otherwise one, so both draw alike from a seed.
 */
import fc from 'fast-check'
import type { JoinRefRecord, JoinRefShape, JoinRefSide } from './join-reference.ts'

/**
 * Interval joins (inner, left, full; bounds on either side of zero, of width `width`) or window
 * joins (tumbling, hopping), with random lateness and random watermark delays per side.
 */
export function joinShapeArb(width: fc.Arbitrary<number>): fc.Arbitrary<JoinRefShape> {
  return fc
    .record({
      interval: fc.boolean(),
      joinType: fc.constantFrom<'inner' | 'left' | 'full'>('inner', 'left', 'full'),
      lower: fc.integer({ min: -30, max: 20 }),
      width,
      size: fc.integer({ min: 1, max: 40 }),
      slideDivisor: fc.integer({ min: 1, max: 4 }),
      lateness: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 30 })),
      delayLeft: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 30 })),
      delayRight: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 30 })),
    })
    .map((r) => ({
      joinType: r.interval ? r.joinType : 'inner',
      bound: r.interval
        ? { kind: 'interval' as const, lowerMs: r.lower, upperMs: r.lower + r.width }
        : r.slideDivisor === 1
          ? { kind: 'tumbling' as const, sizeMs: r.size, slideMs: r.size }
          : {
              kind: 'hopping' as const,
              sizeMs: r.size,
              slideMs: Math.max(1, Math.floor(r.size / r.slideDivisor)),
            },
      latenessMs: r.lateness,
      delayMs: { left: r.delayLeft, right: r.delayRight },
    }))
}

/**
 * An interleaving of both sides' records (up to 80): times drift upward with jitter, now and then
 * far back (also before 1970); keys from `keys` (weight `keyWeight` against 1 for a null key); a
 * record is dropped by a `where` when a digit drawn from 0 to 9 is below `droppedBelow`.
 */
export function joinRecordsArb(options: {
  readonly keys: readonly string[]
  readonly keyWeight: number
  readonly droppedBelow: number
}): fc.Arbitrary<JoinRefRecord[]> {
  return fc
    .array(
      fc.record({
        side: fc.constantFrom<JoinRefSide>('left', 'right'),
        step: fc.integer({ min: -3, max: 6 }),
        jitter: fc.oneof(
          { arbitrary: fc.constant(0), weight: 3 },
          { arbitrary: fc.integer({ min: -60, max: 20 }), weight: 1 },
        ),
        key: fc.oneof(
          { arbitrary: fc.constantFrom(...options.keys), weight: options.keyWeight },
          { arbitrary: fc.constant(null), weight: 1 },
        ),
        dropped: fc.integer({ min: 0, max: 9 }).map((n) => n < options.droppedBelow),
      }),
      { maxLength: 80, size: 'large' },
    )
    .map((items) => {
      let clock = -40
      return items.map((item, id) => {
        clock += item.step
        return { side: item.side, id, time: clock + item.jitter, key: item.key, dropped: item.dropped }
      })
    })
}
