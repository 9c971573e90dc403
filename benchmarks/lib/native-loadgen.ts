/**
 * The native load generator (benchmarks/loadgen/, Go, standard library only) from the benchmarks:
 * `go build` into a temporary directory (never into the repository), one run per offered rate, its
 * JSON read back. It offers single-event HTTP and WebSocket batches open loop at rates a Node.js
 * driver cannot (lib/gateway-load.ts stays for gRPC), and reports its own CPU seconds, so a report
 * can show the generator was not the bottleneck.
 */
import { execFile } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const LOADGEN_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'loadgen')

/** Where Go is installed on the project's machines when it is not on PATH. */
const GO_FALLBACK = '/usr/local/go/bin/go'

export interface NativeLoadOptions {
  readonly protocol: 'http' | 'websocket'
  /** The gateway's http://host:port. */
  readonly url: string
  readonly stream: string
  /** Events per second offered. */
  readonly rate: number
  /** Events per request (HTTP: 1 posts one event, more a JSON array) or per WebSocket message. */
  readonly batch: number
  readonly durationMs: number
  /** Load at the same rate before the measurement, not counted. */
  readonly warmupMs: number
  readonly connections: number
  /** An event's JSON with {{seq}}, {{seq%N}} or {{seq+N}} (benchmarks/loadgen/template.go). */
  readonly template: string
  readonly headers?: readonly string[]
}

export interface LatencySummaryNs {
  readonly count: number
  readonly mean: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly p999: number
  readonly max: number
}

/** The generator's JSON (benchmarks/loadgen/main.go, Result). */
export interface NativeLoadResult {
  readonly mode: 'http' | 'ws'
  readonly offeredRate: number
  readonly eventsPerRequest: number
  readonly durationSeconds: number
  readonly warmupSeconds: number
  readonly connections: number
  readonly sent: number
  readonly acknowledged: number
  readonly acknowledgedEvents: number
  readonly refused: Readonly<Record<string, number>>
  readonly errors: number
  readonly timedOut: number
  /** Requests never sent: the run was cut off -drain-timeout after the schedule's end. */
  readonly notSent: number
  readonly latencyNs: LatencySummaryNs
  readonly sendLagNs: LatencySummaryNs
  readonly achievedRate: number
  readonly achievedEventsPerSecond: number
  readonly cpuSeconds: number
  readonly userCpuSeconds: number
  readonly systemCpuSeconds: number
  readonly reconnects: number
  readonly firstError?: string
}

/** The go binary: $GO, else `go` on PATH, else /usr/local/go/bin/go; null when there is none. */
export function findGo(env: NodeJS.ProcessEnv = process.env, fallback = GO_FALLBACK): string | null {
  const candidates = [
    ...(env.GO ? [env.GO] : []),
    ...(env.PATH ?? '')
      .split(delimiter)
      .filter((dir) => dir !== '')
      .map((dir) => join(dir, 'go')),
    fallback,
  ]
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not there: the next one
    }
  }
  return null
}

/**
 * Builds the generator into a new temporary directory and returns the binary's path. Offline:
 * the module has no dependencies, and GOTOOLCHAIN=local keeps Go from fetching a toolchain.
 */
export async function buildLoadgen(go: string | null = findGo()): Promise<string> {
  if (go === null) {
    throw new Error(
      `the gateway benchmark needs Go (1.22 or later) to build its load generator (${LOADGEN_DIR}): install it, put it on PATH or set GO=/path/to/go (looked in PATH and ${GO_FALLBACK})`,
    )
  }
  const out = join(await mkdtemp(join(tmpdir(), 'sluice-loadgen-')), 'loadgen')
  await new Promise<void>((resolve, reject) => {
    execFile(
      go,
      ['build', '-o', out, '.'],
      {
        cwd: LOADGEN_DIR,
        env: { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=mod', CGO_ENABLED: '0' },
      },
      (error, _stdout, stderr) => {
        if (error) reject(new Error(`go build of ${LOADGEN_DIR} failed: ${stderr || error.message}`))
        else resolve()
      },
    )
  })
  return out
}

/** The generator's command line for `options`: rates are per request (message), not per event. */
export function loadgenArgs(options: NativeLoadOptions): string[] {
  const base = new URL(options.url)
  const path =
    options.protocol === 'http'
      ? `/streams/${encodeURIComponent(options.stream)}/events`
      : `/streams/${encodeURIComponent(options.stream)}/ws`
  const url = `${options.protocol === 'http' ? 'http' : 'ws'}://${base.host}${path}`
  return [
    '-url',
    url,
    '-rate',
    String(options.rate / options.batch),
    '-batch',
    String(options.batch),
    '-duration',
    `${options.durationMs}ms`,
    '-warmup',
    `${options.warmupMs}ms`,
    '-connections',
    String(options.connections),
    '-template',
    options.template,
    ...(options.headers ?? []).flatMap((header) => ['-header', header]),
  ]
}

/** Runs the generator once; rejects with its stderr when it fails. */
export function runNativeLoad(binary: string, options: NativeLoadOptions): Promise<NativeLoadResult> {
  return new Promise((resolve, reject) => {
    execFile(binary, loadgenArgs(options), { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`the load generator failed: ${stderr || error.message}`))
        return
      }
      try {
        resolve(JSON.parse(stdout) as NativeLoadResult)
      } catch {
        reject(new Error(`the load generator printed no JSON result:\n${stdout}\n${stderr}`))
      }
    })
  })
}
