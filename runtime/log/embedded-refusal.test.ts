import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { isSluiceError } from '../errors.ts'
import { EmbeddedLog } from './embedded.ts'

const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

async function openLog(maxRecordBytes: number): Promise<EmbeddedLog> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-refusal-'))
  dirs.push(dir)
  return EmbeddedLog.open(dir, { maxRecordBytes, fsync: 'never' })
}

describe('records the embedded log refuses', () => {
  it('fail the whole append with LOG_RECORD_REFUSED when nobody takes refusals', async () => {
    const log = await openLog(100)
    await log.ensureTopic('t')
    const error = await log
      .append('t', [
        { key: null, value: Buffer.from('ok') },
        { key: null, value: Buffer.alloc(200) },
      ])
      .catch((e: unknown) => e)
    expect(isSluiceError(error, 'LOG_RECORD_REFUSED')).toBe(true)
    expect((error as Error).message).toMatch(/exceeds the embedded log's limit of 100 bytes/)
    expect(await log.endOffsets('t')).toEqual([0])
    await log.close()
  })

  it('are left out and reported with onRefused while the rest is appended in order', async () => {
    const log = await openLog(100)
    await log.ensureTopic('t', { partitions: 2 })
    const refused: number[] = []
    const positions = await log.append(
      't',
      [
        { key: null, value: Buffer.from('a'), partition: 0 },
        { key: null, value: Buffer.alloc(200), partition: 0 },
        { key: null, value: Buffer.from('b'), partition: 1 },
        { key: null, value: Buffer.from('c'), partition: 0 },
      ],
      { onRefused: (i) => refused.push(i) },
    )
    expect(refused).toEqual([1])
    expect(positions).toEqual([
      { topic: 't', partition: 0, offset: 0 },
      { topic: 't', partition: 1, offset: 0 },
      { topic: 't', partition: 0, offset: 1 },
    ])
    expect((await log.read('t', 0, 0, 10)).map((r) => r.value.toString())).toEqual(['a', 'c'])
    expect(await log.append('t', [{ key: null, value: Buffer.alloc(101) }], { onRefused: () => {} })).toEqual(
      [],
    )
    await log.close()
  })

  it('refuses a maxRecordBytes outside the frame limits', async () => {
    await expect(openLog(10)).rejects.toThrow(/maxRecordBytes must be an integer/)
  })
})
