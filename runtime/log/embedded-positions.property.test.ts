import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { logScratch } from '../../test/support/log-scratch.ts'
import type { EmbeddedLog } from './embedded.ts'
import type { OutgoingRecord } from './index.ts'

const scratch = logScratch('sluice-positions')

async function openLog(): Promise<EmbeddedLog> {
  const log = await scratch.openLog(await scratch.newDir(), { maxRecordBytes: 200, durability: 'none' })
  await log.ensureTopic('t', { partitions: 3 })
  return log
}

/** Keyed, round-robin and explicitly placed records; some over the log's record limit (refused). */
const record: fc.Arbitrary<OutgoingRecord> = fc.record({
  key: fc.option(fc.constantFrom('a', 'b', 'card-7', 'ü'), { nil: null }),
  value: fc.oneof(fc.constant(Buffer.from('{"x":1}')), fc.constant(Buffer.alloc(300))),
  partition: fc.option(fc.nat(2), { nil: undefined }),
})

describe('EmbeddedLog.appendPositions', () => {
  it('gives the positions append gives, as typed arrays, also with refusals and concurrent appends', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(record, { maxLength: 12 }), { minLength: 1, maxLength: 6 }),
        async (appends) => {
          // Two logs fed the same appends, concurrently (so they coalesce alike); one asked through each call.
          const [objects, arrays] = await Promise.all([openLog(), openLog()])
          try {
            const refusedByObjects: number[][] = appends.map(() => [])
            const refusedByArrays: number[][] = appends.map(() => [])
            const [expected, actual] = await Promise.all([
              Promise.all(
                appends.map((records, a) =>
                  objects.append('t', records, { onRefused: (i) => refusedByObjects[a]!.push(i) }),
                ),
              ),
              Promise.all(
                appends.map((records, a) =>
                  arrays.appendPositions('t', records, { onRefused: (i) => refusedByArrays[a]!.push(i) }),
                ),
              ),
            ])
            expect(refusedByArrays).toEqual(refusedByObjects)
            actual.forEach(({ partitions, offsets }, a) => {
              expect(
                Array.from(partitions, (partition, i) => ({ topic: 't', partition, offset: offsets[i] })),
              ).toEqual(expected[a])
            })
          } finally {
            await Promise.all([objects.close(), arrays.close()])
          }
        },
      ),
      { numRuns: 40 },
    )
  })
})
