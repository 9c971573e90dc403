import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { loadArtifact } from '../artifact/load.ts'
import { EmbeddedLog } from '../log/embedded.ts'
import { MetricsRegistry } from '../metrics/registry.ts'
import { PipelineRunner } from './pipeline-runner.ts'

/**
 * Runs the compiled pipeline in `artifactDir` under exactly-once, in batches of at most 7 records,
 * over `inputs` (one partition per topic) until caught up, and returns what it wrote to `out`.
 */
async function runToEnd(
  artifactDir: string,
  inputs: Readonly<Record<string, readonly unknown[]>>,
): Promise<unknown[]> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-union-'))
  const log = await EmbeddedLog.open(dir)
  try {
    for (const topic of Object.keys(inputs)) await log.ensureTopic(topic)
    for (const [topic, values] of Object.entries(inputs))
      await log.append(
        topic,
        values.map((value) => ({ key: null, value: Buffer.from(JSON.stringify(value)) })),
      )
    const runner = await PipelineRunner.start({
      log,
      artifact: await loadArtifact(artifactDir),
      metrics: new MetricsRegistry(),
      delivery: 'exactly-once',
      maxBatchRecords: 7,
    })
    await runner.waitUntilCaughtUp(20_000)
    await runner.stop()
    return (await log.read('out', 0, 0, 1000)).map((r) => JSON.parse(r.value.toString()) as unknown)
  } finally {
    await log.close()
    await rm(dir, { recursive: true, force: true })
  }
}

describe('a union of two sources (issue 17)', () => {
  it("runs the chain after it on both sources' batches, each source in its order, under exactly-once", async () => {
    const artifactDir = await compileFixture(
      `schema R { id: string, n: i64 }
source a: R from kafka("a")
source b: R from kafka("b")
stream both = union a, b | where n > 0 | select { id, twice: n * 2 }
sink both -> kafka("out")
`,
      'union-runner',
      'union-runner.pipe',
    )
    const lines = (prefix: string) =>
      Array.from({ length: 50 }, (_, i) => ({ id: `${prefix}${i}`, n: i % 5 }))
    const out = (await runToEnd(artifactDir, { a: lines('a'), b: lines('b') })) as {
      id: string
      twice: number
    }[]
    const expected = (prefix: string) =>
      Array.from({ length: 50 }, (_, i) => ({ id: `${prefix}${i}`, twice: (i % 5) * 2 })).filter(
        (r) => r.twice > 0,
      )
    expect(out.length).toBe(80)
    expect(out.filter((r) => r.id.startsWith('a'))).toEqual(expected('a'))
    expect(out.filter((r) => r.id.startsWith('b'))).toEqual(expected('b'))
  })

  it("merges two streams of one source record by record, an event meeting both inputs once per input, in the union's order", async () => {
    const artifactDir = await compileFixture(
      `schema R { id: i64, n: i64 }
source a: R from kafka("a")
stream high = a | where n > 5 | select { id, tag: "high" }
stream odd = a | where n % 2 == 1 | select { id, tag: "odd" }
stream both = union odd, high, odd
sink both -> kafka("out")
`,
      'union-same-source-runner',
      'union-same-source-runner.pipe',
    )
    const out = await runToEnd(artifactDir, {
      a: Array.from({ length: 40 }, (_, i) => ({ id: i, n: i % 10 })),
    })
    // Whatever the batch cuts: record by record, and for one record odd, high, odd.
    const expected = Array.from({ length: 40 }, (_, id) => {
      const n = id % 10
      return [
        ...(n % 2 === 1 ? [{ id, tag: 'odd' }] : []),
        ...(n > 5 ? [{ id, tag: 'high' }] : []),
        ...(n % 2 === 1 ? [{ id, tag: 'odd' }] : []),
      ]
    }).flat()
    expect(out).toEqual(expected)
  })
})
