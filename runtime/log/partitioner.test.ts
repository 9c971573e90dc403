import { describe, expect, it } from 'vitest'
import { murmur2, partitionForKey } from './partitioner.ts'

describe('murmur2', () => {
  // Reference values from Kafka's UtilsTest.testMurmur2 (org.apache.kafka.common.utils).
  const cases: [string, number][] = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
  ]
  for (const [input, expected] of cases) {
    it(`hashes "${input}" like Kafka`, () => {
      expect(murmur2(Buffer.from(input))).toBe(expected)
    })
  }
  it('hashes a 3-byte tail', () => {
    expect(murmur2(Buffer.from([97, 98, 99]))).toBe(murmur2(Buffer.from('abc')))
  })
})

describe('partitionForKey', () => {
  it('stays within range and is stable', () => {
    for (let i = 0; i < 200; i++) {
      const p = partitionForKey(`key-${i}`, 7)
      expect(p).toBeGreaterThanOrEqual(0)
      expect(p).toBeLessThan(7)
      expect(partitionForKey(`key-${i}`, 7)).toBe(p)
    }
  })
})
