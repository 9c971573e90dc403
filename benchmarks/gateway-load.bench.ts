/**
 * The event gateway under a fixed offered load, open loop (lib/gateway-load.ts): a real
 * `sluice serve` process (the gateway with gRPC, the payments artifact's source as its stream, the
 * embedded log under batch durability, as serve defaults) and this process as the load driver. Per
 * protocol and offered rate: events/s acknowledged, acknowledgement latency per request from its
 * intended send time (p50/p99/p999/max, HDR), requests refused, and CPU seconds and peak RSS of
 * the server beside the driver's CPU, so a driver that is the bottleneck shows.
 *
 *   node --import tsx benchmarks/gateway-load.bench.ts
 *   node --import tsx benchmarks/gateway-load.bench.ts --protocols websocket --rates 100000,500000 --batch 500
 *
 * Writes benchmarks/reports/gateway-load.{json,md}. The driver is Node.js (fetch, a WebSocket
 * client over node:http, @grpc/grpc-js): for single-event HTTP at 100,000 requests/s a native
 * load generator is the right driver, and this one is not that; its CPU is in the report.
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { compileFixture } from '../test/support/compile-fixture.ts'
import { type GatewayLoadResult, type GatewayProtocol, runGatewayLoad } from './lib/gateway-load.ts'
import { machineInfo } from './lib/report.ts'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const PIPE = `
schema Payment { id: string, card: string, amount: f64, currency: string, ts: timestamp @event_time }
source payments: Payment from kafka("payments")
stream large = payments | where amount >= 1000.0 | select { id, card, amount }
sink large -> kafka("large-payments")
`

const { values } = parseArgs({
  options: {
    protocols: { type: 'string', default: 'http,websocket,grpc' },
    rates: { type: 'string', default: '10000,50000,100000' },
    batch: { type: 'string', default: '100' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '8' },
  },
})

/** CPU seconds (user + system) and resident bytes of a process, from /proc (Linux). */
function processUsage(pid: number): { cpuSeconds: number; rssBytes: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const ticks = Number(fields[11]) + Number(fields[12])
  const rssPages = Number(fields[21])
  return { cpuSeconds: ticks / 100, rssBytes: rssPages * 4096 }
}

async function startServer(artifact: string, dataDir: string) {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'bin/sluice.js'),
      'serve',
      '--gateway',
      '127.0.0.1:0',
      '--grpc',
      '127.0.0.1:0',
      '--ingest',
      artifact,
      '--data-dir',
      dataDir,
      '--log-format',
      'json',
      '--max-in-flight-bytes',
      String(256 * 1024 * 1024),
      '--max-request-bytes',
      String(16 * 1024 * 1024),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
  let stderr = ''
  const serving = await new Promise<{ gateway: string; grpc: string }>((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
      const line = stderr.split('\n').find((l) => l.includes('"msg":"serving"'))
      if (line) resolve(JSON.parse(line) as { gateway: string; grpc: string })
    })
    child.on('exit', (code) => reject(new Error(`serve exited ${code}:\n${stderr}`)))
  })
  return {
    ...serving,
    pid: child.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        child.on('exit', () => resolve())
        child.kill('SIGTERM')
      }),
  }
}

interface Row extends GatewayLoadResult {
  readonly serverCpuSeconds: number
  readonly serverPeakRssBytes: number
}

async function main(): Promise<void> {
  const protocols = values.protocols.split(',') as GatewayProtocol[]
  const rates = values.rates.split(',').map(Number)
  const batch = Number(values.batch)
  const durationMs = Number(values.duration) * 1000
  const connections = Number(values.connections)
  const artifact = await compileFixture(PIPE, 'payments', 'payments.pipe')
  const rows: Row[] = []
  for (const protocol of protocols) {
    for (const rate of rates) {
      const dataDir = await mkdtemp(join(tmpdir(), 'sluice-gateway-load-'))
      const server = await startServer(artifact, dataDir)
      let peakRss = 0
      const sampler = setInterval(() => {
        peakRss = Math.max(peakRss, processUsage(server.pid).rssBytes)
      }, 100)
      const before = processUsage(server.pid)
      const perRequest = protocol === 'http' && batch === 1 ? 1 : batch
      const result = await runGatewayLoad({
        protocol,
        url: server.gateway,
        grpcAddress: server.grpc,
        stream: 'payments',
        rate,
        batch: perRequest,
        durationMs,
        connections,
        event: (seq) =>
          `{"id":"p${seq}","card":"c${seq % 10000}","amount":${(seq % 5000) + 0.5},"currency":"EUR","ts":${1_700_000_000_000 + seq}}`,
      })
      const after = processUsage(server.pid)
      clearInterval(sampler)
      await server.stop()
      await rm(dataDir, { recursive: true, force: true })
      const row = {
        ...result,
        serverCpuSeconds: after.cpuSeconds - before.cpuSeconds,
        serverPeakRssBytes: peakRss,
      }
      rows.push(row)
      const ms = (ns: number) => (ns / 1e6).toFixed(2)
      console.log(
        `${protocol} ${rate}/s ×${perRequest}: ${Math.round(result.acknowledgedPerSecond)} events/s acked, ack p50 ${ms(result.ack.p50)} p99 ${ms(result.ack.p99)} p999 ${ms(result.ack.p999)} max ${ms(result.ack.max)} ms, refused ${JSON.stringify(result.refused)}, driver-limited ${result.driverLimited}, CPU server ${row.serverCpuSeconds.toFixed(1)} s driver ${result.clientCpuSeconds.toFixed(1)} s, server RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB`,
      )
    }
  }
  const reports = join(ROOT, 'benchmarks', 'reports')
  await mkdir(reports, { recursive: true })
  await writeFile(
    join(reports, 'gateway-load.json'),
    `${JSON.stringify({ machine: machineInfo(ROOT), rows }, null, 2)}\n`,
  )
  const lines = [
    '# Gateway load (open loop)',
    '',
    '| protocol | offered events/s | events/request | acked events/s | ack p50 ms | p99 | p999 | max | refused | server CPU s | driver CPU s | server peak RSS MiB |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.protocol} | ${r.offeredPerSecond} | ${r.batch} | ${Math.round(r.acknowledgedPerSecond)} | ${(r.ack.p50 / 1e6).toFixed(2)} | ${(r.ack.p99 / 1e6).toFixed(2)} | ${(r.ack.p999 / 1e6).toFixed(2)} | ${(r.ack.max / 1e6).toFixed(2)} | ${JSON.stringify(r.refused)} | ${r.serverCpuSeconds.toFixed(1)} | ${r.clientCpuSeconds.toFixed(1)} | ${(r.serverPeakRssBytes / 2 ** 20).toFixed(0)} |`,
    ),
    '',
  ]
  await writeFile(join(reports, 'gateway-load.md'), lines.join('\n'))
}

await main()
