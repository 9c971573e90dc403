/**
 * waitUntilCaughtUp on a source partition whose last offsets hold nothing a reader is ever given
 * (the records of an aborted exactly-once transaction): the embedded log's subscription steps over
 * them and commits past them, so the runner is caught up instead of waiting for a commit that
 * never comes.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { loadArtifact } from '../artifact/load.ts'
import { EmbeddedLog } from '../log/embedded.ts'
import { MetricsRegistry } from '../metrics/registry.ts'
import { PipelineRunner } from './pipeline-runner.ts'

const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

describe('PipelineRunner.waitUntilCaughtUp', () => {
  it('is caught up when the offsets left are ones no reader is given (an aborted transaction)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-caught-up-'))
    dirs.push(dir)
    const log = await EmbeddedLog.open(dir)
    try {
      await log.ensureTopic('upstream')
      await log.ensureTopic('in')
      await log.append('upstream', [{ key: null, value: Buffer.from('{}') }])
      // An upstream exactly-once pipeline wrote two records to `in`, then its transaction aborted.
      const upstream = await log.subscribe(
        {
          group: 'upstream',
          topics: ['upstream'],
          delivery: 'exactly-once',
          checkpoint: {
            transactionalId: 'upstream',
            assigned: async () => {},
            prepare: async () => '',
            committed: async () => {},
            revoked: () => {},
          },
        },
        async (batch) => {
          await batch.transaction!.append('in', [
            { key: null, value: Buffer.from('{"n": 1}') },
            { key: null, value: Buffer.from('{"n": 2}') },
          ])
          throw new Error('the upstream node fails: its transaction aborts')
        },
      )
      await upstream.done.catch(() => {})
      expect(await log.endOffsets('in')).toEqual([2])
      expect(await log.read('in', 0, 0, 10)).toEqual([])

      const artifact = await loadArtifact(
        await compileFixture(
          'schema N { n: i64 }\nsource in: N from kafka("in")\nsink in -> kafka("out")',
          'caught-up',
        ),
      )
      const runner = await PipelineRunner.start({ log, artifact, metrics: new MetricsRegistry() })
      await runner.waitUntilCaughtUp(10_000)
      await runner.stop()
      expect(await log.read('out', 0, 0, 10)).toEqual([])
    } finally {
      await log.close()
    }
  })
})
