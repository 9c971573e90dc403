import { describe, expect, it } from 'vitest'
import { loadArtifact } from '../runtime/artifact/load.ts'
import { isSluiceError } from '../runtime/errors.ts'
import type { Log } from '../runtime/log/index.ts'
import { MetricsRegistry } from '../runtime/metrics/registry.ts'
import {
  PipelineRunner,
  DEFAULT_DEAD_LETTER_TOPIC as RUNTIME_DEFAULT,
} from '../runtime/node/pipeline-runner.ts'
import { compileFixture } from '../test/support/compile-fixture.ts'
import { DEFAULT_DEAD_LETTER_TOPIC } from './check/check.ts'

describe('sinks and the dead-letter topic', () => {
  it('the compiler refuses the same default dead-letter topic the node writes', () => {
    expect(DEFAULT_DEAD_LETTER_TOPIC).toBe(RUNTIME_DEFAULT)
  })

  it('the node refuses a sink that writes the dead-letter topic it was given, before touching the log', async () => {
    const artifact = await loadArtifact(
      await compileFixture(
        `schema E { id: string }\nsource e: E from kafka("in")\nsink e -> kafka("failures")\n`,
        'dl',
      ),
    )
    const untouched = new Proxy({} as Log, {
      get: () => {
        throw new Error('the log was used')
      },
    })
    const error = await PipelineRunner.start({
      log: untouched,
      artifact,
      metrics: new MetricsRegistry(),
      deadLetterTopic: 'failures',
    }).catch((e: unknown) => e)
    expect(isSluiceError(error, 'CONFIG_INVALID')).toBe(true)
    expect((error as Error).message).toBe(
      'sink `e` writes `failures`, the dead-letter topic, so its output would be mixed with the dead letters; pass another --dead-letter-topic',
    )
  })
})
