/** Issue 17, defect 22: smaller CLI defects, each with the behaviour users should get. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../test/support/capture-io.ts'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-small-defects-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** A JSON log record as `--log-format json` writes it to stderr. */
interface LogLine {
  level: string
  msg: string
  lines?: number
  firstLine?: number
}

/** Each non-empty line of `text`, parsed as JSON. */
function jsonLines<T>(text: string): T[] {
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as T)
}

/** `sluice produce t --key-field card` of `file` into `dataDir`, logging JSON lines. */
const produceKeyedByCard = (file: string, dataDir: string) =>
  runCli('produce', 't', '--file', file, '--key-field', 'card', '--data-dir', dataDir, '--log-format', 'json')

const pipe = (name: string) =>
  `schema E { id: string }\nsource e: E from kafka("${name}-in")\nsink e -> kafka("${name}-out")\n`

describe('small CLI defects', () => {
  it('compile -o does not silently replace the artifact of another pipeline; --replace does', async () => {
    await writeFile(join(dir, 'one.pipe'), pipe('one'))
    await writeFile(join(dir, 'two.pipe'), pipe('two'))
    const out = join(dir, 'shared-out')
    expect((await runCli('compile', join(dir, 'one.pipe'), '-o', out)).code).toBe(0)
    // The same pipeline again: replacing its own earlier artifact is fine.
    expect((await runCli('compile', join(dir, 'one.pipe'), '-o', out)).code).toBe(0)
    const refused = await runCli('compile', join(dir, 'two.pipe'), '-o', out)
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('it holds the artifact of pipeline `one`')
    expect(refused.stderr).toContain('pass --replace')
    expect(JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')).name).toBe('one')
    expect((await runCli('compile', join(dir, 'two.pipe'), '-o', out, '--replace')).code).toBe(0)
    expect(JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')).name).toBe('two')
  })

  it('run refuses an empty --group instead of falling back to the default', async () => {
    const { code, stderr } = await runCli(
      'run',
      join(dir, 'shared-out'),
      '--group',
      '',
      '--data-dir',
      join(dir, 'd'),
    )
    expect(code).toBe(2)
    expect(stderr).toContain('--group names no consumer group')
  })

  it('produce --key-field warns about lines appended without a key, with the first line', async () => {
    const file = join(dir, 'events.jsonl')
    await writeFile(file, '{"card":"a"}\n{"other":1}\nnot json\n{"card":null}\n{"card":"b"}\n')
    const { code, stderr } = await produceKeyedByCard(file, join(dir, 'd'))
    expect(code).toBe(0)
    const warning = jsonLines<LogLine>(stderr).find((r) => r.level === 'warn')
    expect(warning).toMatchObject({ lines: 3, firstLine: 2 })
    expect(warning!.msg).toMatch(/^3 lines had no --key-field card/)
  })
  it('produce --key-field does not write a key holding a lone surrogate as U+FFFD: the line goes without a key, with a warning', async () => {
    const file = join(dir, 'surrogate.jsonl')
    await writeFile(file, '{"card":"a"}\n{"card":"\\ud800x"}\n')
    const dataDir = join(dir, 'surrogate')
    const { code, stderr } = await produceKeyedByCard(file, dataDir)
    expect(code).toBe(0)
    const warnings = jsonLines<LogLine>(stderr).filter((r) => r.level === 'warn')
    expect(
      warnings.find((w) => /lone surrogate/.test(w.msg) && /^1 lines had a --key-field/.test(w.msg)),
    ).toMatchObject({
      lines: 1,
      firstLine: 2,
    })
    const consumed = await runCli('consume', 't', '--meta', '--data-dir', dataDir)
    const records = jsonLines<{ key: string | null; value: unknown }>(consumed.stdout)
    expect(records.map((r) => r.key)).toEqual(['a', null])
    expect(consumed.stdout).not.toContain('\ufffd')
  })
})
