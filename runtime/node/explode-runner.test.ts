import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { loadArtifact } from '../artifact/load.ts'
import { EmbeddedLog } from '../log/embedded.ts'
import { MetricsRegistry } from '../metrics/registry.ts'
import { DEFAULT_DEAD_LETTER_TOPIC, PipelineRunner } from './pipeline-runner.ts'

describe('a chain with `explode` (issue 17)', () => {
  it('writes several outputs per record, under exactly-once too, and counts the records it dropped', async () => {
    const artifactDir = await compileFixture(
      `schema S { id: string, xs: list<i64> }
source src: S from kafka("in")
stream items = src | explode xs as x | where x > 0 | select { id, inverse: 12 / (x - 1) }
sink items -> kafka("out")
`,
      'explode-runner',
      'explode-runner.pipe',
    )
    const dir = await mkdtemp(join(tmpdir(), 'sluice-explode-'))
    const log = await EmbeddedLog.open(dir)
    try {
      await log.ensureTopic('in')
      await log.append(
        'in',
        [
          '{"id":"a","xs":[2,1,3]}', // 12/1, fails at x = 1, 12/2: two outputs and a dead letter
          '{"id":"b","xs":[]}', // no item: dropped
          '{"id":"c","xs":[0,-1]}', // every item filtered: dropped
          '{"id":"d","xs":[5]}',
        ].map((line) => ({ key: null, value: Buffer.from(line) })),
      )
      const metrics = new MetricsRegistry()
      const runner = await PipelineRunner.start({
        log,
        artifact: await loadArtifact(artifactDir),
        metrics,
        delivery: 'exactly-once',
      })
      await runner.waitUntilCaughtUp(20_000)
      await runner.stop()
      const out = (await log.read('out', 0, 0, 10)).map((r) => JSON.parse(r.value.toString()))
      expect(out).toEqual([
        { id: 'a', inverse: 12 },
        { id: 'a', inverse: 6 },
        { id: 'd', inverse: 3 },
      ])
      expect((await log.read(DEFAULT_DEAD_LETTER_TOPIC, 0, 0, 10)).length).toBe(1)
      expect(metrics.find('sluice_events_filtered_total')!.total()).toBe(2)
    } finally {
      await log.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
