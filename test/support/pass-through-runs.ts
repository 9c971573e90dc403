/**
 * Runs for the tests of the canonical pass-through (runtime/node/pass-through.ts): the same records
 * through the runner with an artifact's canonical-bytes check and without it, to compare what a
 * reader sees of the sink records and dead letters.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { LoadedArtifact } from '../../runtime/artifact/load.ts'
import { EmbeddedLog } from '../../runtime/log/embedded.ts'
import type { LogRecord } from '../../runtime/log/index.ts'
import { MetricsRegistry } from '../../runtime/metrics/registry.ts'
import { DEFAULT_DEAD_LETTER_TOPIC, PipelineRunner } from '../../runtime/node/pipeline-runner.ts'
import { readTopic } from './read-topic.ts'

/** `artifact` with its sources' canonical-bytes checks removed: every record decoded and encoded. */
export function withoutPassThrough(artifact: LoadedArtifact): LoadedArtifact {
  const sources = Object.fromEntries(
    Object.entries(artifact.operators.sources).map(([name, { passThrough: _check, ...decoder }]) => [
      name,
      decoder,
    ]),
  )
  return { ...artifact, operators: { ...artifact.operators, sources } }
}

/**
 * `records` appended to topic `bid` of a fresh embedded log (every third without a key), run by the
 * artifact in batches of 7 until caught up: what topic `out` and the dead-letter topic hold.
 */
export async function runBids(
  artifact: LoadedArtifact,
  records: readonly Buffer[],
): Promise<{ out: LogRecord[]; dead: LogRecord[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-pass-through-'))
  const log = await EmbeddedLog.open(dir, { durability: 'none' })
  try {
    await log.ensureTopic('bid')
    await log.append(
      'bid',
      records.map((value, i) => ({ key: i % 3 === 0 ? null : `k${i}`, value, timestamp: 1_000 + i })),
    )
    const runner = await PipelineRunner.start({
      log,
      artifact,
      metrics: new MetricsRegistry(),
      maxBatchRecords: 7,
    })
    await runner.waitUntilCaughtUp(20_000)
    await runner.stop()
    return { out: await readTopic(log, 'out'), dead: await readTopic(log, DEFAULT_DEAD_LETTER_TOPIC) }
  } finally {
    await log.close()
    await rm(dir, { recursive: true, force: true })
  }
}

/** What a reader can see of a record, bytes included (not the append time of dead letters). */
export function visible(records: readonly LogRecord[], withTimestamp: boolean) {
  return records.map((r) => ({
    key: r.key,
    value: r.value.toString('hex'),
    headers: r.headers,
    ...(withTimestamp ? { timestamp: r.timestamp } : {}),
  }))
}
