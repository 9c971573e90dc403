import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { EmbeddedLog } from '../embedded.ts'
import { hasDamage, verifyDataDir } from './verify.ts'

// Appends of any size become batch frames split at segment rolls; a read from any offset, with any
// limit, before and after a reopen, returns exactly the records from that offset on.

const ARTIFACT = { 'sluice.artifact': `sha256:${'c3'.repeat(32)}` }

const arbAppend = fc.array(
  fc.record({
    size: fc.nat({ max: 300 }),
    key: fc.option(fc.constantFrom('a', 'card-17', 'ключ'), { nil: null }),
    headers: fc.constantFrom<'shared' | 'none' | 'own'>('shared', 'none', 'own'),
  }),
  { minLength: 1, maxLength: 40 },
)

describe('reads of record batches', () => {
  it('return the records from any offset, across batches and segment rolls, before and after a reopen', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(arbAppend, { minLength: 1, maxLength: 6 }),
        fc.constantFrom(400, 3000, 1 << 20),
        fc.constantFrom(1, 3, 128),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 60 })), { minLength: 1, maxLength: 8 }),
        async (appends, segmentBytes, indexInterval, reads) => {
          const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-batch-reads-'))
          try {
            let log = await EmbeddedLog.open(dir, { durability: 'none', segmentBytes, indexInterval })
            await log.ensureTopic('t')
            const expected: { key: string | null; value: string; headers: Record<string, string> }[] = []
            for (const append of appends) {
              const records = append.map((r) => {
                const n = expected.length
                const value = `${n}:`.padEnd(r.size + 2, 'v')
                const headers: Readonly<Record<string, string>> =
                  r.headers === 'shared' ? ARTIFACT : r.headers === 'own' ? { n: String(n) } : {}
                expected.push({ key: r.key, value, headers: { ...headers } })
                return { key: r.key, value: Buffer.from(value), headers, partition: 0 }
              })
              await log.append('t', records)
            }
            const check = async (l: EmbeddedLog) => {
              for (const [at, max] of reads) {
                const from = at % (expected.length + 1)
                const got = await l.read('t', 0, from, max)
                expect(
                  got.map((r) => ({ key: r.key, value: r.value.toString(), headers: { ...r.headers } })),
                ).toEqual(expected.slice(from, from + max))
                expect(got.map((r) => r.offset)).toEqual(got.map((_, i) => from + i))
              }
            }
            await check(log)
            await log.close()
            expect(hasDamage(await verifyDataDir(dir))).toBe(false)
            log = await EmbeddedLog.open(dir, { durability: 'none', segmentBytes, indexInterval })
            expect(await log.endOffsets('t')).toEqual([expected.length])
            await check(log)
            await log.close()
          } finally {
            await rm(dir, { recursive: true, force: true })
          }
        },
      ),
      { numRuns: 40 },
    )
  })
})
