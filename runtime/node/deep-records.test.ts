/**
 * Issue 17, defects 1 and 2: 400 chained schemas (`schema S0 { x: S1 }` … `schema S400 { … }`,
 * ../shared/repro/language/sc400.pipe) were refused since records were capped at 64 levels, as the
 * code generator recursed once per level. They compile now, up to MAX_RECORD_DEPTH levels: here
 * such records are decoded, run, written and read back, a bad value at the deepest level is
 * dead-lettered with its whole path, and the reference interpreter gives the same outputs.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { MAX_RECORD_DEPTH } from '../../compiler/check/record-depth-limit.ts'
import { checkSource } from '../../compiler/frontend.ts'
import { createInterpreter } from '../../compiler/ir/interpret.ts'
import { stdlib } from '../../stdlib/index.ts'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { loadArtifact } from '../artifact/load.ts'
import { EmbeddedLog } from '../log/embedded.ts'
import { MetricsRegistry } from '../metrics/registry.ts'
import { DEAD_LETTER_HEADERS, DEFAULT_DEAD_LETTER_TOPIC, PipelineRunner } from './pipeline-runner.ts'

/** `levels` chained schemas around a last one with scalars: records `levels` + 1 deep. */
function chain(levels: number): string {
  const schemas = Array.from({ length: levels }, (_, i) => `schema S${i} { x: S${i + 1} }`)
  return `${schemas.join('\n')}
schema S${levels} { v: i64, s: string, at: timestamp }
source e: S0 from kafka("e")
stream tagged = e | select { x, tag: "t" }
sink tagged -> kafka("out")
`
}

/** An event of `chain(levels)` whose innermost record is `inner`. */
function nested(levels: number, inner: unknown): Record<string, unknown> {
  let value = inner as Record<string, unknown>
  for (let i = 0; i < levels; i++) value = { x: value }
  return value
}

const AT = '2024-05-01T10:00:00.000Z'

describe('records nested hundreds of levels deep (issue 17, defects 1 and 2)', () => {
  for (const levels of [400, MAX_RECORD_DEPTH - 1]) {
    it(`${levels + 1} levels: decoded, run and written whole; a bad value at the bottom is dead-lettered with its path`, async () => {
      const good = [1, 3].map((v) => nested(levels, { v, s: `s${v}`, at: AT }))
      const bad = nested(levels, { v: 'bad', s: 's', at: AT })
      const artifactDir = await compileFixture(chain(levels), 'deep', 'deep.pipe')
      const dir = await mkdtemp(join(tmpdir(), 'sluice-deep-'))
      const log = await EmbeddedLog.open(dir)
      try {
        await log.ensureTopic('e')
        await log.append(
          'e',
          [good[0], bad, good[1]].map((value) => ({ key: null, value: Buffer.from(JSON.stringify(value)) })),
        )
        const runner = await PipelineRunner.start({
          log,
          artifact: await loadArtifact(artifactDir),
          metrics: new MetricsRegistry(),
        })
        await runner.waitUntilCaughtUp(60_000)
        await runner.stop()
        const written = (await log.read('out', 0, 0, 10)).map((r) => JSON.parse(r.value.toString()))
        expect(written).toEqual(good.map((value) => ({ x: value.x, tag: 't' })))
        const dead = await log.read(DEFAULT_DEAD_LETTER_TOPIC, 0, 0, 10)
        expect(dead.map((d) => d.headers[DEAD_LETTER_HEADERS.offset])).toEqual(['1'])
        const reason = `${'x.'.repeat(levels)}v: expected an integer within ±(2^53-1), got the string "bad"`
        // Reasons are cut at 1,000 characters (with an ellipsis).
        const header = dead[0]!.headers[DEAD_LETTER_HEADERS.reason]!
        expect(header).toBe(reason.length <= 1000 ? reason : `${reason.slice(0, 999)}…`)
      } finally {
        await log.close()
        await rm(dir, { recursive: true, force: true })
      }

      // The reference interpreter, on the events as decoded, gives the same outputs.
      const { pipeline } = checkSource('deep.pipe', chain(levels))
      if (pipeline === null) throw new Error('the spec does not check')
      const outputs: unknown[] = []
      const interpreter = createInterpreter(pipeline, {
        functions: stdlib,
        onSink: ({ value }) => void outputs.push(value),
        onError: ({ error }) => {
          throw error
        },
      })
      // The events as the decoder gives them: timestamps in epoch milliseconds.
      const decoded = [1, 3].map((v) => nested(levels, { v, s: `s${v}`, at: Date.parse(AT) }))
      for (const value of decoded) interpreter.push('e', { value, key: null, timestamp: 0 })
      expect(outputs).toEqual(decoded.map((value) => ({ x: value.x, tag: 't' })))
    }, 120_000)
  }
})
