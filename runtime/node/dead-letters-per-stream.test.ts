import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { loadArtifact } from '../artifact/load.ts'
import { EmbeddedLog } from '../log/embedded.ts'
import { MetricsRegistry } from '../metrics/registry.ts'
import { DEAD_LETTER_HEADERS, DEFAULT_DEAD_LETTER_TOPIC, PipelineRunner } from './pipeline-runner.ts'

describe('an event that fails in several streams (issue 17, defect 12)', () => {
  it('gives one dead letter per failing stream, keeps its other outputs, and counts as one event', async () => {
    const artifactDir = await compileFixture(
      `schema S { id: string, total: i64, parts: i64 }
source src: S from kafka("in")
stream a = src | select { id, q: total / parts }
stream b = src | select { id, r: total % parts }
stream c = src | select { id }
sink a -> kafka("a")
sink b -> kafka("b")
sink c -> kafka("c")
`,
      'per-stream',
      'per-stream.pipe',
    )
    const dir = await mkdtemp(join(tmpdir(), 'sluice-per-stream-'))
    const log = await EmbeddedLog.open(dir)
    try {
      await log.ensureTopic('in')
      await log.append('in', [
        { key: null, value: Buffer.from('{"id":"zero","total":1,"parts":0}') },
        { key: null, value: Buffer.from('{"id":"ok","total":6,"parts":4}') },
      ])
      const metrics = new MetricsRegistry()
      const runner = await PipelineRunner.start({ log, artifact: await loadArtifact(artifactDir), metrics })
      await runner.waitUntilCaughtUp(20_000)
      await runner.stop()
      const dead = await log.read(DEFAULT_DEAD_LETTER_TOPIC, 0, 0, 10)
      expect(dead.map((d) => d.headers[DEAD_LETTER_HEADERS.location])).toEqual([
        expect.stringMatching(/^per-stream\.pipe:3:/),
        expect.stringMatching(/^per-stream\.pipe:4:/),
      ])
      expect((await log.read('c', 0, 0, 10)).map((r) => JSON.parse(r.value.toString()).id)).toEqual([
        'zero',
        'ok',
      ])
      expect(metrics.find('sluice_dead_letters_total')!.total()).toBe(2)
      expect(metrics.find('sluice_events_dead_lettered_total')!.total()).toBe(1)
    } finally {
      await log.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('dead-letter reasons (issue 17, defect 21)', () => {
  it('escape control characters, replace lone surrogates and stay short', async () => {
    const { headerSafe } = await import('./pipeline-runner.ts')
    expect(headerSafe('got the string "a\u0000b\u001b[31m"')).toBe('got the string "a\\u0000b\\u001b[31m"')
    expect(headerSafe('half \ud83d and whole 😀')).toBe('half \ufffd and whole 😀')
    const long = headerSafe(`x${'y'.repeat(5000)}`)
    expect(long.length).toBe(1000)
    expect(long.endsWith('…')).toBe(true)
    expect(headerSafe('short')).toBe('short')
  })
})
