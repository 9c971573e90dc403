import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { PartitionWatermarks } from './idle-inputs.ts'

describe('PartitionWatermarks', () => {
  it('an idle partition follows the smallest watermark of the partitions that are not idle', () => {
    let now = 0
    const w = new PartitionWatermarks({ timeoutMs: 100, now: () => now })
    w.arrived('s', 0, 50)
    w.arrived('s', 1, 300)
    w.arrived('s', 2, 200)
    expect(w.idleMaxTime('s', 0)).toBeNull()
    now = 100
    w.arrived('s', 1, 400)
    // 0 and 2 idle, 1 active: both follow 1.
    expect(w.idleMaxTime('s', 0)).toBe(400)
    expect(w.idleMaxTime('s', 2)).toBe(400)
    expect(w.idleMaxTime('s', 1)).toBeNull()
    expect(w.idleCount('s')).toBe(2)
    w.arrived('s', 2, 250)
    // 2 is back: 0 follows min(400, 250).
    expect(w.idleMaxTime('s', 0)).toBe(250)
    now = 1000
    // Everything idle: nothing to follow.
    expect(w.idleMaxTime('s', 0)).toBeNull()
    expect(w.idleCount('s')).toBe(3)
    expect(w.idleCount('other')).toBe(0)
  })

  it('a partition known only by its ticks holds the others back until its own timeout', () => {
    let now = 0
    const w = new PartitionWatermarks({ timeoutMs: 100, now: () => now })
    w.arrived('s', 0, 500)
    now = 60
    w.ticked('s', 1)
    now = 110
    w.arrived('s', 2, 900)
    // 1 counts as active from its first tick (with no event time yet), so 0 has nothing to follow.
    expect(w.idleMaxTime('s', 0)).toBeNull()
    now = 170
    w.arrived('s', 2, 900)
    w.ticked('s', 1)
    expect(w.idleMaxTime('s', 0)).toBe(900)
  })

  it('what an idle partition follows is never above an active partition’s time nor taken from an idle one', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            partition: fc.integer({ min: 0, max: 3 }),
            time: fc.integer({ min: 0, max: 1000 }),
            advance: fc.integer({ min: 0, max: 80 }),
          }),
          { maxLength: 40 },
        ),
        (steps) => {
          let now = 0
          const timeoutMs = 100
          const w = new PartitionWatermarks({ timeoutMs, now: () => now })
          const last = new Map<number, number>()
          const max = new Map<number, number>()
          for (const step of steps) {
            now += step.advance
            w.arrived('s', step.partition, step.time)
            last.set(step.partition, now)
            max.set(step.partition, Math.max(max.get(step.partition) ?? 0, step.time))
            for (const p of last.keys()) {
              const active = [...last].filter(([q, at]) => q !== p && now - at < timeoutMs).map(([q]) => q)
              const expected =
                now - last.get(p)! < timeoutMs || active.length === 0
                  ? null
                  : Math.min(...active.map((q) => max.get(q)!))
              expect(w.idleMaxTime('s', p)).toBe(expected)
            }
          }
        },
      ),
    )
  })
})
