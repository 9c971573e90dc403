/**
 * The crash-run fixture of the runner properties: a pipeline run on a fresh embedded log under
 * exactly-once, with crashes injected at given operations (crash-injection.ts) and a restart after
 * each, read from the last life's log once caught up. The properties compare such a run with a
 * run without crashes and with their brute-force reference; what they read and compare is theirs,
 * the set-up (data directory, input topics, runner options, crash wrappers) is here, so that every
 * property crashes the runner the same way.
 *
 * Use: `const { runCrashing } = crashRunFixture('sluice-my-property')` at the top of the test file
 * (it removes its data directories after the file's tests), then per example a clean run
 * (`crashes: []`), crash points within its operations (`crashPointsWithin`) and a crashing run.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll } from 'vitest'
import { type LoadedArtifact, loadArtifact } from '../../runtime/artifact/load.ts'
import { EmbeddedLog } from '../../runtime/log/embedded.ts'
import type { OutgoingRecord } from '../../runtime/log/index.ts'
import { MetricsRegistry } from '../../runtime/metrics/registry.ts'
import { PipelineRunner, type PipelineRunnerOptions } from '../../runtime/node/pipeline-runner.ts'
import { compileFixture } from './compile-fixture.ts'
import { CrashingLog, CrashingStore, runWithCrashes } from './crash-injection.ts'
import { propertyRuns } from './property-runs.ts'

/** One run: the pipeline, its input topics and where it crashes. */
export interface CrashRun<T> {
  readonly artifact: LoadedArtifact
  /** The partitions of every input topic and of the runner. */
  readonly partitions: number
  /** Each input topic's records, appended (keyed, so partitioned by key) before the first life. */
  readonly inputs: Readonly<Record<string, readonly OutgoingRecord[]>>
  /** The operations to crash at (see CrashPoints); none for a clean run. */
  readonly crashes: readonly number[]
  readonly maxBatchRecords: number
  /** Runner options beyond the exactly-once set-up (a state budget, say). */
  readonly runner?: Partial<Omit<PipelineRunnerOptions, 'log' | 'stateStore'>>
  /** What the run committed, read from the caught-up log. */
  readonly read: (log: EmbeddedLog) => Promise<T>
}

/** What a run committed, how many times it crashed, and how many operations it did in all. */
export interface CrashRunOutcome<T> {
  readonly result: T
  readonly crashed: number
  readonly operations: number
}

/** Registers the clean-up with the calling test file; `prefix` names its data directories. */
export function crashRunFixture(prefix: string) {
  const dirs: string[] = []
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
  })
  return {
    /**
     * Runs `run.artifact` over the inputs until caught up, restarting after each injected crash.
     * A run given crash points crashes at least once: the operations a run does once its input is
     * processed (idle ticks, checkpoints every `checkpointIntervalMs`) depend on timing, so a
     * crashing run can catch up before a point taken from a clean run's count; then it runs again
     * afresh with the points halved (up to three times), rather than count as a crash-free run.
     */
    async runCrashing<T>(run: CrashRun<T>): Promise<CrashRunOutcome<T>> {
      let crashes = run.crashes
      for (let attempt = 1; ; attempt++) {
        const outcome = await runOnce({ ...run, crashes })
        if (outcome.crashed > 0 || crashes.length === 0 || attempt === 3) return outcome
        crashes = crashes.map((point) => Math.max(1, Math.floor(point / 2)))
      }
    },
  }

  async function runOnce<T>(run: CrashRun<T>): Promise<CrashRunOutcome<T>> {
    const dir = await mkdtemp(join(tmpdir(), `${prefix}-`))
    dirs.push(dir)
    const seed = await EmbeddedLog.open(dir, { durability: 'none' })
    for (const topic of Object.keys(run.inputs)) await seed.ensureTopic(topic, { partitions: run.partitions })
    for (const [topic, records] of Object.entries(run.inputs))
      if (records.length > 0) await seed.append(topic, [...records])
    await seed.close()
    return runWithCrashes(
      dir,
      run.crashes,
      ({ log, store, points }) =>
        PipelineRunner.start({
          log: new CrashingLog(log, points),
          artifact: run.artifact,
          metrics: new MetricsRegistry(),
          partitions: run.partitions,
          delivery: 'exactly-once',
          checkpointIntervalMs: 1,
          maxBatchRecords: run.maxBatchRecords,
          ...run.runner,
          stateStore: new CrashingStore(store, points),
        }),
      run.read,
    )
  }
}

/** A keyed input record of `value` as JSON, as the pipelines' kafka sources read it. */
export function jsonRecord(key: string | null, value: unknown): OutgoingRecord {
  return { key, value: Buffer.from(JSON.stringify(value)) }
}

/**
 * Crash points as fractions of the operations a clean run did (each in [0, 0.9)), so that they
 * fall inside the crashing run whatever its length: fixed numbers missed short inputs and made
 * the count of crashes reached a matter of luck.
 */
export function crashPointsWithin(fractions: readonly number[], cleanOperations: number): number[] {
  return fractions.map((f) => 1 + Math.floor(f * cleanOperations))
}

/**
 * Crash points to give crashPointsWithin: one to `most` fractions of a clean run's operations, so
 * that every crashing run crashes at least once.
 */
export function crashFractionsArb(most = 3): fc.Arbitrary<number[]> {
  return fc.array(fc.double({ min: 0, max: 0.9, noNaN: true }), { minLength: 1, maxLength: most })
}

/** The runner's `maxBatchRecords` in a crash property: 1 to 9 records a batch. */
export const maxBatchRecordsArb: fc.Arbitrary<number> = fc.integer({ min: 1, max: 9 })

/**
 * fc.assert's parameters for a runner property: `numRuns` (or SLUICE_PROPERTY_RUNS, so that a
 * flaky property can be hunted with many more examples), stopping at the first failure, and the
 * replay of a failure with SLUICE_PROPERTY_SEED=<seed> SLUICE_PROPERTY_PATH=<path>. The seed is
 * always drawn here, so that checks after fc.assert (which prints it only for its own failures)
 * can name it too.
 */
export function replayableRuns(
  numRuns: number,
): Pick<fc.Parameters, 'numRuns' | 'endOnFailure' | 'path'> & { readonly seed: number } {
  const runs = propertyRuns(numRuns)
  return { ...runs, seed: runs.seed ?? drawSeed(), endOnFailure: true }
}

/** A 32-bit seed, as fast-check draws one when given none. */
function drawSeed(): number {
  return (Date.now() ^ (Math.random() * 0x100000000)) | 0
}

/**
 * One compiled artifact per variant of a property (by its name), compiled on first use and shared
 * by the variant's examples: `pipeOf` writes the variant's pipeline, `fixture` names the compiles.
 */
export function artifactPerVariant<V extends { readonly name: string }>(
  fixture: string,
  pipeOf: (variant: V) => string,
): (variant: V) => Promise<LoadedArtifact> {
  const artifacts = new Map<string, Promise<LoadedArtifact>>()
  return (variant) => {
    let artifact = artifacts.get(variant.name)
    if (artifact === undefined) {
      artifact = compileFixture(pipeOf(variant), `${fixture}-${artifacts.size}`).then(loadArtifact)
      artifacts.set(variant.name, artifact)
    }
    return artifact
  }
}
