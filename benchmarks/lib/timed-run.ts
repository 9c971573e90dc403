/**
 * Times one node end to end, as the end-to-end benchmarks do (pipeline-throughput, window,
 * nexmark): a PipelineRunner on the log, wrapped in a TimedLog, started after the input was
 * appended, until the group's committed offsets reach the end of every source partition. The clock
 * that counts is from the first batch handed to the runner to caught up (start-up is apart); CPU
 * time is the process's from the runner's start; memory is sampled every 50 ms and every 64 batches.
 */
import type { Log } from '../../runtime/log/index.ts'
import { MetricsRegistry } from '../../runtime/metrics/registry.ts'
import { PipelineRunner, type PipelineRunnerOptions } from '../../runtime/node/pipeline-runner.ts'
import { collectGarbage, type PeakMemory } from './measure.ts'
import { TimedLog } from './timed-log.ts'

export interface TimedNodeRun {
  /** The log as the runner saw it: per-batch durations, records handled, failed batches. */
  readonly timed: TimedLog
  /** From the first batch handed to the runner to caught up, ns. */
  readonly processingNs: number
  /** From the runner's start to its first batch, ms. */
  readonly startupMs: number
  /** User + system CPU of the process from the runner's start to caught up. */
  readonly cpuSeconds: number
  /** The processing window on the clock a CPU profile uses, µs. */
  readonly windowUs: { readonly startUs: number; readonly endUs: number }
}

export async function timeNodeUntilCaughtUp(
  log: Log,
  options: Omit<PipelineRunnerOptions, 'log' | 'metrics'>,
  memory: PeakMemory,
  caughtUpTimeoutMs: number,
): Promise<TimedNodeRun> {
  collectGarbage()
  const timed = new TimedLog(log)
  timed.onBatch = () => {
    if ((timed.durationsNs.length & 63) === 0) memory.sample()
  }
  const sampler = setInterval(() => memory.sample(), 50)
  sampler.unref()
  const started = process.hrtime.bigint()
  const cpuAtStart = process.cpuUsage()
  const runner = await PipelineRunner.start({ ...options, log: timed, metrics: new MetricsRegistry() })
  await runner.waitUntilCaughtUp(caughtUpTimeoutMs)
  const caughtUp = process.hrtime.bigint()
  const cpu = process.cpuUsage(cpuAtStart)
  clearInterval(sampler)
  memory.sample()
  await runner.stop()
  await runner.done
  const first = timed.firstCallStartNs ?? caughtUp
  return {
    timed,
    processingNs: Number(caughtUp - first),
    startupMs: Number(first - started) / 1e6,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    windowUs: { startUs: Number(first / 1000n), endUs: Number(caughtUp / 1000n) },
  }
}
