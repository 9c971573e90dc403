/**
 * What the gateway benchmarks (gateway-load.bench.ts, gateway-cpu-ab.bench.ts) share: the
 * payments workload, a `sluice serve` process started with the benchmarks' command line and
 * waited for until its `serving` log line names its addresses, and the process's CPU and memory
 * read from /proc (Linux).
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

/** The pipeline whose source is the gateway's stream. */
export const PAYMENTS_PIPE = `
schema Payment { id: string, card: string, amount: f64, currency: string, ts: timestamp @event_time }
source payments: Payment from kafka("payments")
stream large = payments | where amount >= 1000.0 | select { id, card, amount }
sink large -> kafka("large-payments")
`

/** Event `seq` for the native driver: ids differ, 10,000 cards, amounts 0.5 … 4999.5. */
export const PAYMENT_EVENT_TEMPLATE =
  '{"id":"p{{seq}}","card":"c{{seq%10000}}","amount":{{seq%5000}}.5,"currency":"EUR","ts":{{seq+1700000000000}}}'

export interface ProcessUsage {
  /** User-space CPU seconds, every thread. */
  readonly userSeconds: number
  /** User + system CPU seconds, every thread. */
  readonly cpuSeconds: number
  readonly rssBytes: number
}

/** The usage in the text of /proc/PID/stat (clock ticks of 1/100 s, pages of 4 KiB). */
export function parseProcStat(stat: string): ProcessUsage {
  // The command name (field 2) is in parentheses and may hold spaces: count from after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const user = Number(fields[11])
  const system = Number(fields[12])
  return { userSeconds: user / 100, cpuSeconds: (user + system) / 100, rssBytes: Number(fields[21]) * 4096 }
}

export function processUsage(pid: number): ProcessUsage {
  return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))
}

export interface GatewayServerOptions {
  /** The checkout whose bin/sluice.js runs (built). */
  readonly tree: string
  readonly artifact: string
  readonly dataDir: string
  /** serve --gateway-threads. */
  readonly threads: number
  /** Serve gRPC too (on a free port). */
  readonly grpc?: boolean
}

export interface GatewayServer {
  /** The gateway's http://host:port. */
  readonly gateway: string
  /** The gRPC address, when served. */
  readonly grpc?: string
  readonly pid: number
  /** SIGTERM (a graceful drain), resolved once the process exited. */
  stop(): Promise<void>
}

/** serve's command line for `options`: generous request and in-flight bounds, JSON logs on stderr. */
export function serveArgs(options: GatewayServerOptions): string[] {
  return [
    join(options.tree, 'bin/sluice.js'),
    'serve',
    '--gateway',
    '127.0.0.1:0',
    ...(options.grpc ? ['--grpc', '127.0.0.1:0'] : []),
    '--ingest',
    options.artifact,
    '--data-dir',
    options.dataDir,
    '--log-format',
    'json',
    '--max-in-flight-bytes',
    String(256 * 1024 * 1024),
    '--max-request-bytes',
    String(16 * 1024 * 1024),
    '--gateway-threads',
    String(options.threads),
  ]
}

/** The `serving` line's fields in serve's stderr so far, or null while it has not come. */
export function servingLine(stderr: string): { gateway: string; grpc?: string } | null {
  // Whole lines only: a chunk may end inside one.
  const line = stderr
    .slice(0, stderr.lastIndexOf('\n') + 1)
    .split('\n')
    .find((l) => l.includes('"msg":"serving"'))
  return line === undefined ? null : (JSON.parse(line) as { gateway: string; grpc?: string })
}

/** Starts `sluice serve` and resolves once it serves; rejects with its stderr if it exits first. */
export async function startGatewayServer(options: GatewayServerOptions): Promise<GatewayServer> {
  const child = spawn(process.execPath, serveArgs(options), {
    stdio: ['ignore', 'ignore', 'pipe'],
    cwd: options.tree,
  })
  let stderr = ''
  const serving = await new Promise<{ gateway: string; grpc?: string }>((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
      const found = servingLine(stderr)
      if (found !== null) resolve(found)
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
