/**
 * Server CPU per acknowledged event of the gateway, A/B across commits (issue 16's hot-path work):
 * the `sluice serve` of each commit (one gateway thread, the embedded log, durability batch) under
 * the native load driver at a fixed offered rate, single-event HTTP and WebSocket batches, the
 * commits alternating within each round (the order turning every round) so they meet the same
 * machine load.
 *
 *   node --import tsx benchmarks/gateway-cpu-ab.bench.ts --commits 15e8bcb,HEAD
 *   node --import tsx benchmarks/gateway-cpu-ab.bench.ts --commits 15e8bcb,worktree --rounds 5 --protocols http
 *
 * `worktree` is this checkout as it is (uncommitted changes included); any other name is a commit,
 * run from a tree of its files (lib/commit-tree.ts: node_modules linked, kernels and CLI built,
 * removed at the end). Per run: a fresh server and data directory, a warm-up load at the same rate (not
 * measured, so the JIT is warm), then the measured load; the server's CPU (user + system, every
 * thread, /proc) over the measured load only, divided by the events it acknowledged in it. The
 * rate should be one the server keeps up with (a server that falls behind spends CPU on events
 * acknowledged after the driver stopped counting). On a loaded machine that CPU figure and the
 * ratio of medians within one run are what count; throughput and latency are noise.
 *
 * `--together` runs the commits' servers at the same time instead, each under its own driver at
 * the rate, so each pair meets the same moment of the machine's load: on a machine loaded by
 * other jobs, whose load changes from one run to the next by more than the difference measured,
 * the pairs' ratios then spread far less than those of runs one after the other. It adds the
 * other server and driver to each one's load, so compare within a mode only.
 *
 * The rounds, their turning order and the per-round ratios (median and range) are lib/ab-run.ts's;
 * `--json FILE` writes every run and the ratios.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { compileFixture } from '../test/support/compile-fixture.ts'
import * as ab from './lib/ab-run.ts'
import { type CommitTree, withCommitTrees } from './lib/commit-tree.ts'
import {
  type GatewayServer,
  PAYMENT_EVENT_TEMPLATE,
  PAYMENTS_PIPE,
  processUsage,
  startGatewayServer,
} from './lib/gateway-server.ts'
import { buildLoadgen, runNativeLoad } from './lib/native-loadgen.ts'
import { median } from './lib/percentile.ts'

const REPO = resolve(import.meta.dirname, '..')

const args = parseArgs({
  options: {
    ...ab.commitOptions('HEAD~1,HEAD'),
    ...ab.roundOptions({ rounds: 3 }),
    protocols: { type: 'string', default: 'http,websocket' },
    'http-rate': { type: 'string', default: '5000' },
    'http-connections': { type: 'string', default: '200' },
    'ws-rate': { type: 'string', default: '50000' },
    batch: { type: 'string', default: '100' },
    connections: { type: 'string', default: '4' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    /** Runs the commits' servers at the same time, each under its own driver (see above). */
    together: { type: 'boolean', default: false },
  },
}).values
for (const flag of ['http-rate', 'http-connections', 'ws-rate', 'batch', 'connections', 'duration'] as const)
  ab.wholeNumberFlag(flag, args[flag], 1)
ab.wholeNumberFlag('warmup', args.warmup, 0)

type Protocol = 'http' | 'websocket'

interface Run {
  readonly commit: string
  readonly protocol: Protocol
  readonly round: number
  readonly cpuSeconds: number
  /** Of which in user space (the process's own code: JavaScript, V8, µWebSockets.js, libuv). */
  readonly userCpuSeconds: number
  readonly acknowledgedEvents: number
  readonly cpuUsPerEvent: number
  /**
   * User-space CPU per event: what changes to the gateway's code move. The kernel's share (socket
   * calls, and on a loaded machine much of the scheduling) varies with the load more than the rest.
   */
  readonly userCpuUsPerEvent: number
  readonly acknowledgedPerSecond: number
  readonly errors: number
  readonly notSent: number
  /** The driver's acknowledgement latency from each request's intended send time, ms. */
  readonly ackP50Ms: number
  readonly ackP99Ms: number
}

/** The driver's load for `protocol` (the url and duration added per run). */
function loadOf(protocol: Protocol) {
  const http = protocol === 'http'
  return {
    protocol,
    stream: 'payments',
    rate: Number(http ? args['http-rate'] : args['ws-rate']),
    batch: http ? 1 : Number(args.batch),
    connections: Number(http ? args['http-connections'] : args.connections),
    warmupMs: 0,
    template: PAYMENT_EVENT_TEMPLATE,
  }
}

/**
 * One measurement of each of `trees` (one server each, fresh data directories): a warm-up load,
 * then the measured load and the server's CPU over it. One tree: runs alone; several: their
 * servers run at the same time, each under its own driver (--together).
 */
async function measure(
  loadgen: string,
  trees: readonly CommitTree[],
  artifact: string,
  protocol: Protocol,
  round: number,
): Promise<Run[]> {
  const load = loadOf(protocol)
  const servers: { commit: string; dataDir: string; server: GatewayServer }[] = []
  try {
    for (const { label: commit, tree } of trees) {
      const dataDir = await mkdtemp(join(tmpdir(), 'sluice-gateway-ab-'))
      servers.push({
        commit,
        dataDir,
        server: await startGatewayServer({ tree, artifact, dataDir, threads: 1 }),
      })
    }
    const each = (durationMs: number) =>
      Promise.all(
        servers.map(({ server }) => runNativeLoad(loadgen, { ...load, url: server.gateway, durationMs })),
      )
    await each(Number(args.warmup) * 1000)
    const before = servers.map(({ server }) => processUsage(server.pid))
    const results = await each(Number(args.duration) * 1000)
    const after = servers.map(({ server }) => processUsage(server.pid))
    return servers.map(({ commit }, i) => {
      const r = results[i]!
      const cpu = after[i]!.cpuSeconds - before[i]!.cpuSeconds
      const user = after[i]!.userSeconds - before[i]!.userSeconds
      return {
        commit,
        protocol,
        round,
        cpuSeconds: cpu,
        userCpuSeconds: user,
        acknowledgedEvents: r.acknowledgedEvents,
        cpuUsPerEvent: (cpu * 1e6) / Math.max(r.acknowledgedEvents, 1),
        userCpuUsPerEvent: (user * 1e6) / Math.max(r.acknowledgedEvents, 1),
        acknowledgedPerSecond: r.achievedEventsPerSecond,
        errors: r.errors + r.timedOut,
        notSent: r.notSent,
        ackP50Ms: r.latencyNs.p50 / 1e6,
        ackP99Ms: r.latencyNs.p99 / 1e6,
      }
    })
  } finally {
    for (const { server, dataDir } of servers) {
      await server.stop()
      await rm(dataDir, { recursive: true, force: true })
    }
  }
}

async function main(): Promise<void> {
  const commits = ab.readRevisions(args.commits)
  const protocols = args.protocols.split(',').map((p) => p.trim()) as Protocol[]
  for (const p of protocols)
    if (p !== 'http' && p !== 'websocket') throw new RangeError(`unknown protocol ${p}`)
  const plan = ab.readRoundFlags(args)
  const loadgen = await buildLoadgen()
  const artifact = await compileFixture(PAYMENTS_PIPE, 'payments', 'payments.pipe')
  const { runs, revisions } = await withCommitTrees(
    { repo: REPO, revisions: commits, parent: args.trees },
    async (trees) => {
      // One server at a time, or (--together) all at once, their start order turning every round.
      const units = args.together ? [trees] : trees.map((tree) => [tree])
      const measured = await ab.alternate(
        units,
        plan,
        async (unit, { round, warmup, group: protocol }) => {
          const runs = await measure(loadgen, ab.roundOrder(unit, round), artifact, protocol, round)
          for (const run of runs)
            console.log(
              `round ${round}${warmup ? ' (warm-up)' : ''} ${protocol} ${run.commit}: ${run.cpuUsPerEvent.toFixed(2)} µs CPU per acked event, ${run.userCpuUsPerEvent.toFixed(2)} of it user (${run.cpuSeconds.toFixed(2)} CPU-s, ${run.acknowledgedEvents} acked, ${Math.round(run.acknowledgedPerSecond)}/s, errors ${run.errors}, not sent ${run.notSent}, ack p50 ${run.ackP50Ms.toFixed(2)} ms p99 ${run.ackP99Ms.toFixed(2)} ms)`,
            )
          return runs.map((run) => ({ ...run, warmup }))
        },
        protocols,
      )
      return {
        runs: measured.flatMap((m) => m.result),
        revisions: trees.map(({ label, sha }) => ({ label, sha })),
      }
    },
  )
  const measuredRuns = runs.filter((r) => !r.warmup)
  console.log(
    '\nmedian server CPU µs per acknowledged event, all and user space (ratios to the first commit):',
  )
  const medianOf = (protocol: Protocol, commit: string, figure: (r: Run) => number) =>
    median(measuredRuns.filter((r) => r.protocol === protocol && r.commit === commit).map(figure))
  const ratios: ab.NamedRatios[] = []
  for (const protocol of protocols) {
    const base = medianOf(protocol, commits[0]!, (r) => r.cpuUsPerEvent)
    const baseUser = medianOf(protocol, commits[0]!, (r) => r.userCpuUsPerEvent)
    for (const commit of commits) {
      const all = medianOf(protocol, commit, (r) => r.cpuUsPerEvent)
      const user = medianOf(protocol, commit, (r) => r.userCpuUsPerEvent)
      const p99 = medianOf(protocol, commit, (r) => r.ackP99Ms)
      console.log(
        `  ${protocol.padEnd(9)} ${commit.padEnd(10)} ${all.toFixed(2)} µs ×${(all / base).toFixed(2)}   user ${user.toFixed(2)} µs ×${(user / baseUser).toFixed(2)}   ack p99 ${p99.toFixed(2)} ms`,
      )
    }
    // Each round's runs met the same load (most of all with --together): the ratio within a round,
    // then the median and range over the rounds, and in how many rounds the commit used less CPU.
    const own = measuredRuns.filter((r) => r.protocol === protocol)
    const ratiosOf = (figure: string, value: (r: Run) => number) =>
      ab
        .ratiosByRound(
          own.map((r) => ({ round: r.round, variant: r.commit, value: value(r) })),
          commits[0]!,
        )
        .map((r) => ({ ...r, figure, group: protocol }))
    const all = ratiosOf('CPU µs per acked event', (r) => r.cpuUsPerEvent)
    const user = ratiosOf('user CPU µs per acked event', (r) => r.userCpuUsPerEvent)
    for (const [i, r] of all.entries()) {
      const fewer = r.ratios.filter((x) => x < 1).length
      console.log(
        `  ${protocol.padEnd(9)} ${r.variant.padEnd(10)} per-round ratio to ${r.baseline}: median ×${r.median.toFixed(2)} (user ×${user[i]!.median.toFixed(2)}), lower in ${fewer} of ${r.rounds} rounds`,
      )
      console.log(`  ${protocol.padEnd(9)} ${ab.formatRatioSummary(r.figure, r, 2)}`)
    }
    ratios.push(...all, ...user)
  }
  await ab.writeAbReport(plan.json, { bench: 'gateway-cpu-ab', options: args, plan, revisions, runs, ratios })
}

await main()
