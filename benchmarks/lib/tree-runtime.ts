/**
 * What an A/B benchmark's child process takes from the commit it measures: that commit's runtime
 * modules, imported from its tree (commit-tree.ts), so the commit's own code runs under this
 * checkout's harness. They are typed loosely on purpose: another commit's API is not this one's.
 */
import { join } from 'node:path'
import { PerformanceObserver } from 'node:perf_hooks'
import { withTempDir } from './interrupt.ts'

// biome-ignore lint/suspicious/noExplicitAny: another commit's modules, whose types this checkout does not know.
type Module = any

export interface TreeRuntime {
  readonly loadArtifact: Module
  readonly EmbeddedLog: Module
  readonly FileSnapshotStore: Module
  readonly MetricsRegistry: Module
  readonly PipelineRunner: Module
  /** benchmarks/lib/timed-log.ts of that commit. */
  readonly TimedLog: Module
}

/** The runtime modules every commit since the A/B benchmarks began has, from `tree`. */
export async function importTreeRuntime(tree: string): Promise<TreeRuntime> {
  const from = (path: string): Promise<Module> => import(join(tree, path))
  const [artifact, log, store, metrics, runner, timed] = await Promise.all([
    from('runtime/artifact/load.ts'),
    from('runtime/log/embedded.ts'),
    from('runtime/state/file-snapshot-store.ts'),
    from('runtime/metrics/registry.ts'),
    from('runtime/node/pipeline-runner.ts'),
    from('benchmarks/lib/timed-log.ts'),
  ])
  return {
    loadArtifact: artifact.loadArtifact,
    EmbeddedLog: log.EmbeddedLog,
    FileSnapshotStore: store.FileSnapshotStore,
    MetricsRegistry: metrics.MetricsRegistry,
    PipelineRunner: runner.PipelineRunner,
    TimedLog: timed.TimedLog,
  }
}

/**
 * Counts this process's garbage collections from its creation or the last reset: minor
 * (scavenges) and major (the rest). Counts depend far less on the machine's load than times do.
 */
export class GcCounter {
  majors = 0
  minors = 0

  constructor() {
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        if ((entry as { detail?: { kind?: number } }).detail?.kind === 1) this.minors++
        else this.majors++
      }
    }).observe({ entryTypes: ['gc'] })
  }

  reset(): void {
    this.majors = 0
    this.minors = 0
  }
}

/**
 * Runs `body` on a fresh embedded log and file snapshot store of `runtime` in a temporary
 * directory (`log/`, `state/`), closed and removed after, however `body` ends.
 */
export async function withScratchLog<T>(
  runtime: TreeRuntime,
  options: { readonly log: unknown; readonly state?: unknown },
  body: (log: Module, stateStore: Module) => Promise<T>,
): Promise<T> {
  return withTempDir('sluice-ab-run-', async (dir) => {
    const log = await runtime.EmbeddedLog.open(join(dir, 'log'), options.log)
    try {
      const stateStore = new runtime.FileSnapshotStore(join(dir, 'state'), options.state)
      try {
        return await body(log, stateStore)
      } finally {
        await stateStore.close()
      }
    } finally {
      await log.close()
    }
  })
}

export interface TreeNodeRun {
  /** The TimedLog the runner read through: first and last batch, records, per-batch times. */
  readonly timed: Module
  readonly caughtUpNs: bigint
  /** User + system CPU of this process from the runner's start to caught up. */
  readonly cpuSeconds: number
}

/**
 * Starts `runtime`'s PipelineRunner on `log` (through its TimedLog) with `options`, waits until it
 * has caught up, and stops it; the figures end at caught up, before the stop.
 */
export async function runTreeNodeUntilCaughtUp(
  runtime: TreeRuntime,
  log: Module,
  options: Readonly<Record<string, unknown>>,
): Promise<TreeNodeRun> {
  const timed = new runtime.TimedLog(log)
  const cpuAtStart = process.cpuUsage()
  const runner = await runtime.PipelineRunner.start({
    ...options,
    log: timed,
    metrics: new runtime.MetricsRegistry(),
  })
  await runner.waitUntilCaughtUp(600_000)
  const caughtUpNs = process.hrtime.bigint()
  const cpu = process.cpuUsage(cpuAtStart)
  await runner.stop()
  await runner.done
  return { timed, caughtUpNs, cpuSeconds: (cpu.user + cpu.system) / 1e6 }
}
