/**
 * The expression nesting limit (parser MAX_NESTING) is there so no recursive pass after the parser
 * overflows the stack; it must not refuse what users write, such as a long flat `or` chain (a
 * 200-term one was refused as "nested too deeply").
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadArtifact } from '../runtime/artifact/load.ts'
import { EmbeddedLog } from '../runtime/log/embedded.ts'
import { MetricsRegistry } from '../runtime/metrics/registry.ts'
import { PipelineRunner } from '../runtime/node/pipeline-runner.ts'
import { compileFixture } from '../test/support/compile-fixture.ts'
import { compileSource } from './compile.ts'
import { MAX_NESTING } from './parse/parser.ts'

function orChain(terms: number): string {
  const condition = Array.from({ length: terms }, (_, i) => `id == "v${i}"`).join(' or ')
  return `schema E { id: string }
source e: E from kafka("or-in")
stream s = e | where ${condition} | select { id }
sink s -> kafka("or-out")
`
}

describe('the expression nesting limit', () => {
  // A 2,000-term chain: a 200-term one was refused as nested too deeply, and any chain past
  // MAX_NESTING terms was while chains were built left-deep; long ones are balanced now.
  const terms = 2000

  it(`compiles and runs a flat ${terms}-term or chain`, async () => {
    const artifactDir = await compileFixture(orChain(terms), 'or-chain')
    const dataDir = await mkdtemp(join(tmpdir(), 'sluice-or-'))
    const log = await EmbeddedLog.open(dataDir)
    try {
      await log.ensureTopic('or-in')
      await log.append(
        'or-in',
        ['v0', 'nope', `v${terms - 1}`].map((id) => ({
          key: null,
          value: Buffer.from(JSON.stringify({ id })),
        })),
      )
      const runner = await PipelineRunner.start({
        log,
        artifact: await loadArtifact(artifactDir),
        metrics: new MetricsRegistry(),
      })
      await runner.waitUntilCaughtUp(20_000)
      await runner.stop()
      const out = await log.read('or-out', 0, 0, 10)
      expect(out.map((r) => JSON.parse(r.value.toString()).id)).toEqual(['v0', `v${terms - 1}`])
    } finally {
      await log.close()
      await rm(dataDir, { recursive: true, force: true })
    }
  })

  it('refuses deeper nesting with E0104 naming the limit, not an internal error', () => {
    const nested = `${'not ('.repeat(MAX_NESTING + 10)}id == "a"${')'.repeat(MAX_NESTING + 10)}`
    const text = orChain(1).replace('id == "v0"', nested)
    const result = compileSource('deep.pipe', text, { name: 'deep' })
    expect(result.artifact ?? null).toBeNull()
    expect(result.diagnostics.map((d) => d.code)).toEqual(['E0104'])
    expect(result.diagnostics[0]!.message).toBe(
      `expression is nested too deeply (more than ${MAX_NESTING} levels)`,
    )
  })
})
