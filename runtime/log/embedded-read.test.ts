import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { EmbeddedLog } from './embedded.ts'

const dirs: string[] = []
const logs: EmbeddedLog[] = []

afterEach(async () => {
  await Promise.allSettled(logs.splice(0).map((l) => l.close()))
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

async function openLog(options: Parameters<typeof EmbeddedLog.open>[1] = {}): Promise<EmbeddedLog> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-read-'))
  dirs.push(dir)
  const log = await EmbeddedLog.open(dir, { durability: 'none', ...options })
  logs.push(log)
  return log
}

const value = (i: number, bytes = 40) => Buffer.from(`${String(i).padStart(8, '0')}:`.padEnd(bytes, 'x'))

describe('embedded log read path', () => {
  it('hands out values as views of one read buffer, not one copy per record', async () => {
    const log = await openLog()
    await log.ensureTopic('t')
    await log.append(
      't',
      Array.from({ length: 50 }, (_, i) => ({ key: null, value: value(i) })),
    )
    const records = await log.read('t', 0, 0, 50)
    expect(records.map((r) => r.value.toString())).toEqual(
      Array.from({ length: 50 }, (_, i) => value(i).toString()),
    )
    // One batch, one buffer: every value lies in the same ArrayBuffer, where the read put its
    // batch frame, so consecutive values are one record apart (the value plus 5 bytes: one-byte
    // varints for offset delta, timestamp delta, key, header set and value length).
    expect(new Set(records.map((r) => r.value.buffer)).size).toBe(1)
    for (let i = 1; i < records.length; i++)
      expect(records[i]!.value.byteOffset - records[i - 1]!.value.byteOffset).toBe(40 + 5)
  })

  it('never reuses a read buffer: values of earlier reads stay intact after later reads', async () => {
    const log = await openLog({ indexInterval: 4 })
    await log.ensureTopic('t')
    // Values of different sizes, and a frame larger than the largest single read (1 MiB), so that
    // reads refill mid-batch and one frame needs a buffer of its own.
    const values = Array.from({ length: 300 }, (_, i) =>
      value(i, i === 150 ? (1 << 20) + 100 : 20 + (i % 7) * 50),
    )
    for (let i = 0; i < values.length; i += 30)
      await log.append(
        't',
        values.slice(i, i + 30).map((v) => ({ key: `k${i}`, value: v, headers: { h: String(i) } })),
      )
    const kept = []
    for (let from = 0; from < values.length; from += 37) kept.push(...(await log.read('t', 0, from, 37)))
    expect(kept).toHaveLength(values.length)
    kept.forEach((record, i) => {
      expect(record.offset).toBe(i)
      expect(record.value.equals(values[i]!)).toBe(true)
    })
  })

  it('a header named __proto__ is a header, not a prototype', async () => {
    const log = await openLog()
    await log.ensureTopic('t')
    const headers = JSON.parse('{"__proto__":"x","a":"b"}') as Record<string, string>
    await log.append('t', [{ key: null, value: Buffer.from('v'), headers }])
    const [record] = await log.read('t', 0, 0, 1)
    expect(Object.getPrototypeOf(record!.headers)).toBe(Object.prototype)
    expect(Object.entries(record!.headers)).toEqual([
      ['__proto__', 'x'],
      ['a', 'b'],
    ])
  })
})
