import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EmbeddedLog } from '../runtime/log/embedded.ts'
import { DEAD_LETTER_HEADERS, DEFAULT_DEAD_LETTER_TOPIC } from '../runtime/node/pipeline-runner.ts'
import { runCli } from '../test/support/capture-io.ts'
import { compileFixture } from '../test/support/compile-fixture.ts'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-utf8-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('invalid UTF-8 in events (issue 17, defect 6)', () => {
  it('produce appends the bytes as they are, and run dead-letters the event with them', async () => {
    const bad = Buffer.concat([Buffer.from('{"id":"a'), Buffer.from([0xff, 0xfe]), Buffer.from('b"}')])
    const file = join(dir, 'events.jsonl')
    await writeFile(file, Buffer.concat([bad, Buffer.from('\r\n{"id":"ok"}\n')]))
    const data = join(dir, 'data')
    const artifact = await compileFixture(
      'schema E { id: string }\nsource e: E from kafka("evs")\nsink e -> kafka("out")\n',
      'utf8',
    )
    expect((await runCli('produce', 'evs', '--file', file, '--data-dir', data)).code).toBe(0)
    expect((await runCli('run', artifact, '--data-dir', data, '--until-caught-up')).code).toBe(0)

    const log = await EmbeddedLog.openReadOnly(data)
    try {
      const [stored] = await log.read('evs', 0, 0, 1)
      expect(stored!.value.equals(bad)).toBe(true)
      const dead = await log.read(DEFAULT_DEAD_LETTER_TOPIC, 0, 0, 10)
      expect(dead).toHaveLength(1)
      expect(dead[0]!.value.equals(bad)).toBe(true)
      expect(dead[0]!.headers[DEAD_LETTER_HEADERS.reason]).toBe(
        'the record is not valid UTF-8 (first bad byte at 8)',
      )
      expect((await log.read('out', 0, 0, 10)).map((r) => r.value.toString())).toEqual(['{"id":"ok"}'])
    } finally {
      await log.close()
    }
    // consume prints the records as stored, not decoded (it showed U+FFFD for the bad bytes).
    const consumed = await runCli('consume', 'evs', '--data-dir', data)
    expect(consumed.stdoutBytes.equals(Buffer.concat([bad, Buffer.from('\n{"id":"ok"}\n')]))).toBe(true)
  })
})
