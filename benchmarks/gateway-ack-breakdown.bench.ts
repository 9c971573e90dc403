/**
 * Where a WebSocket batch's acknowledgement latency goes (issue 16: ack p99 13.8 ms at 100 k
 * events/s offered, target under 5 ms): the gateway runs in this process (one thread, the embedded
 * log under batch durability, as `sluice serve` runs it) under the native driver at a fixed rate,
 * and beside the driver's ack latency it records
 *   - each group append (the write and the fdatasync every ack waits for; the group appender sends
 *     one at a time, so an ack waits for the one in flight and then its own),
 *   - the event loop's delay (monitorEventLoopDelay: how late timers and I/O callbacks run),
 *   - garbage-collection pauses (PerformanceObserver 'gc'),
 * and, before the load, the latency of fdatasync alone on this disk for the log's write sizes: at
 * the end of a file that grows (as the log appends) and in space written with zeros ahead (the
 * preallocation Kafka and PostgreSQL's WAL use, so a sync need not flush the file's size too).
 *
 *   node --import tsx benchmarks/gateway-ack-breakdown.bench.ts --rate 100000 --batch 100
 *
 * Prints its figures; writes no report. The machine's load moves all of them: say how loaded it was.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { loadArtifact } from '../runtime/artifact/load.ts'
import { Gateway } from '../runtime/gateway/gateway.ts'
import { streamCatalog } from '../runtime/gateway/streams.ts'
import { EmbeddedLog } from '../runtime/log/embedded.ts'
import type { AppendOptions, Log, OutgoingRecord } from '../runtime/log/index.ts'
import { MetricsRegistry } from '../runtime/metrics/registry.ts'
import { compileFixture } from '../test/support/compile-fixture.ts'
import { AllocationSampler, summarizeAllocations } from './lib/allocation-profile.ts'
import { quantiles, syncLatencies } from './lib/fdatasync-latency.ts'
import { PAYMENT_EVENT_TEMPLATE, PAYMENTS_PIPE } from './lib/gateway-server.ts'
import { buildLoadgen, runNativeLoad } from './lib/native-loadgen.ts'

const args = parseArgs({
  options: {
    rate: { type: 'string', default: '100000' },
    batch: { type: 'string', default: '100' },
    connections: { type: 'string', default: '4' },
    duration: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
    /** Syncs per write size and way in the fdatasync measurement (0: skip it). */
    syncs: { type: 'string', default: '600' },
    /**
     * Also sample where the heap's allocations come from during the load (garbage included,
     * allocation-profile.ts): bytes per acknowledged event and the heaviest allocating functions.
     * The sampling itself costs CPU, so the latencies of such a run are not comparable.
     */
    allocations: { type: 'boolean', default: false },
  },
}).values

const ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '')

/** PerformanceObserver's GC kinds (perf_hooks constants NODE_PERFORMANCE_GC_*). */
function gcKind(kind: number | undefined): string {
  if (kind === constants.NODE_PERFORMANCE_GC_MINOR) return 'scavenges (young generation)'
  if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) return 'mark-compact (old generation)'
  if (kind === constants.NODE_PERFORMANCE_GC_INCREMENTAL) return 'incremental marking steps'
  if (kind === constants.NODE_PERFORMANCE_GC_WEAKCB) return 'weak callbacks'
  return `kind ${kind}`
}

const ms = (ns: number) => `${(ns / 1e6).toFixed(2)} ms`

function describe(name: string, values: number[]): void {
  const q = quantiles(values)
  console.log(`${name}: n ${q.count}, p50 ${ms(q.p50)}, p99 ${ms(q.p99)}, max ${ms(q.max)}`)
}

function measureSyncs(count: number): void {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-fdatasync-'))
  try {
    // A group of 100 payment events is about 9 KB in the log; 1 KB is a few, 90 KB a thousand.
    for (const size of [1000, 9000, 90_000]) {
      const byWay: Record<string, number[]> = { growing: [], 'zeros ahead': [] }
      // Alternating in rounds, so both ways meet the same moments of the machine's load.
      for (let round = 0; round < 6; round++)
        for (const ahead of round % 2 === 0 ? [false, true] : [true, false])
          byWay[ahead ? 'zeros ahead' : 'growing']!.push(
            ...syncLatencies(dir, size, ahead, Math.ceil(count / 6)),
          )
      for (const [way, took] of Object.entries(byWay)) describe(`fdatasync ${size} B, ${way}`, took)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** `inner` with every append timed into `took` (ns) and its record count into `sizes`. */
function timedLog(inner: Log, took: number[], sizes: number[]): Log {
  const wrapper = Object.create(inner) as Log
  const timed =
    <T>(call: (topic: string, records: readonly OutgoingRecord[], options?: AppendOptions) => Promise<T>) =>
    async (topic: string, records: readonly OutgoingRecord[], options?: AppendOptions): Promise<T> => {
      const start = process.hrtime.bigint()
      try {
        return await call.call(inner, topic, records, options)
      } finally {
        took.push(Number(process.hrtime.bigint() - start))
        sizes.push(records.length)
      }
    }
  wrapper.append = timed(inner.append)
  // The group appender calls this one where the log has it.
  if (inner.appendPositions !== undefined) wrapper.appendPositions = timed(inner.appendPositions)
  wrapper.partitions = (topic) => inner.partitions(topic)
  return wrapper
}

async function main(): Promise<void> {
  if (Number(args.syncs) > 0) measureSyncs(Number(args.syncs))
  const artifact = await loadArtifact(await compileFixture(PAYMENTS_PIPE, 'payments', 'payments.pipe'))
  const dir = await mkdtemp(join(tmpdir(), 'sluice-ack-breakdown-'))
  const log = await EmbeddedLog.open(dir, { durability: 'batch' })
  await log.ensureTopic('payments', { partitions: 1 })
  const appendNs: number[] = []
  const appendSizes: number[] = []
  const gateway = await Gateway.start({
    log: timedLog(log, appendNs, appendSizes),
    streams: streamCatalog([artifact]),
    metrics: new MetricsRegistry(),
    port: 0,
    maxInFlightBytes: 256 * 1024 * 1024,
  })
  const loadgen = await buildLoadgen()
  const load = {
    protocol: 'websocket' as const,
    url: gateway.url,
    stream: 'payments',
    rate: Number(args.rate),
    batch: Number(args.batch),
    connections: Number(args.connections),
    template: PAYMENT_EVENT_TEMPLATE,
  }
  try {
    await runNativeLoad(loadgen, { ...load, durationMs: Number(args.warmup) * 1000, warmupMs: 0 })
    appendNs.length = 0
    appendSizes.length = 0
    const gcNs: number[] = []
    const gcNsByKind = new Map<string, number[]>()
    const gc = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        gcNs.push(entry.duration * 1e6)
        const kind = gcKind((entry as { detail?: { kind?: number } }).detail?.kind)
        const list = gcNsByKind.get(kind) ?? []
        gcNsByKind.set(kind, list)
        list.push(entry.duration * 1e6)
      }
    })
    gc.observe({ entryTypes: ['gc'] })
    const loop = monitorEventLoopDelay({ resolution: 1 })
    loop.enable()
    const sampler = args.allocations ? new AllocationSampler() : null
    await sampler?.start()
    const before = process.cpuUsage()
    const result = await runNativeLoad(loadgen, {
      ...load,
      durationMs: Number(args.duration) * 1000,
      warmupMs: 0,
    })
    const cpu = process.cpuUsage(before)
    const allocations = sampler === null ? null : summarizeAllocations(await sampler.stop(), { root: ROOT })
    loop.disable()
    gc.disconnect()
    const lat = result.latencyNs
    console.log(
      `offered ${load.rate} events/s in ${load.batch}s: acknowledged ${Math.round(result.achievedEventsPerSecond)}/s, ack p50 ${ms(lat.p50)}, p99 ${ms(lat.p99)}, p999 ${ms(lat.p999)}, max ${ms(lat.max)} (send lag p99 ${ms(result.sendLagNs.p99)})`,
    )
    console.log(
      `gateway process CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s (user ${(cpu.user / 1e6).toFixed(2)}), ${((cpu.user + cpu.system) / result.acknowledgedEvents).toFixed(2)} µs per acked event (the driver's own: ${result.cpuSeconds.toFixed(2)} s)`,
    )
    describe('group append (write + fdatasync)', appendNs)
    const sizes = quantiles(appendSizes)
    console.log(`records per group append: p50 ${sizes.p50}, p99 ${sizes.p99}, max ${sizes.max}`)
    console.log(
      `event loop delay: p50 ${ms(loop.percentile(50))}, p99 ${ms(loop.percentile(99))}, max ${ms(loop.max)}`,
    )
    describe('GC pauses', gcNs)
    for (const [kind, pauses] of gcNsByKind) describe(`  of which ${kind}`, pauses)
    console.log(`GC total ${ms(gcNs.reduce((a, b) => a + b, 0))} over ${args.duration} s`)
    if (allocations !== null) {
      const perEvent = (bytes: number) => (bytes / result.acknowledgedEvents).toFixed(0)
      console.log(
        `heap allocated (sampled, garbage included): ${(allocations.totalBytes / 2 ** 20).toFixed(1)} MiB, ${perEvent(allocations.totalBytes)} B per acked event; heaviest:`,
      )
      for (const site of allocations.sites) console.log(`  ${perEvent(site.bytes)} B/event  ${site.name}`)
    }
  } finally {
    await gateway.drain(5000)
    await log.close()
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
