/**
 * Issue 10 end to end: a process with few file descriptors serves its metrics while a client
 * opens far more idle connections than the process has descriptors. The process must stay alive,
 * its pipeline must keep opening files during the flood, and /metrics must answer again once the
 * idle connections time out.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { DEFAULT_SERVE_OPTIONS } from './serve.ts'

const FIXTURE = join(import.meta.dirname, 'fixtures', 'fd-limited-pipeline.ts')
/** Node with tsx needs about 30 descriptors; the metrics endpoint may hold maxConnections more. */
const FD_LIMIT = 80
const FLOOD = 5 * FD_LIMIT

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

interface Child {
  readonly process: ChildProcess
  readonly url: string
  ticks(): number
  stderr(): string
  readonly exited: Promise<number | null>
}

async function startFixture(idleTimeoutMs: number): Promise<Child> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-fd-limit-'))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  const child = spawn(
    'bash',
    [
      '-c',
      `ulimit -n ${FD_LIMIT} && exec "$0" --import tsx "$@"`,
      process.execPath,
      FIXTURE,
      dir,
      String(idleTimeoutMs),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      await exited
    }
  })
  let out = ''
  let err = ''
  child.stderr.on('data', (chunk) => {
    err += chunk
  })
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      out += chunk
      const ready = /^ready (\S+)$/m.exec(out)
      if (ready) resolve(ready[1]!)
    })
    child.once('exit', (code) => reject(new Error(`fixture exited with ${code} before serving:\n${err}`)))
  })
  return {
    process: child,
    url,
    ticks: () => out.split('tick\n').length - 1,
    stderr: () => err,
    exited,
  }
}

/** Opens one connection that never sends a byte; settles with how it ended up. */
function idleConnection(url: string): Promise<{ open: boolean; closed: Promise<void> }> {
  const { port } = new URL(url)
  const socket = connect(Number(port), '127.0.0.1')
  cleanups.push(() => socket.destroy())
  socket.on('error', () => {})
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  return new Promise((resolve) => {
    socket.once('connect', () => resolve({ open: true, closed }))
    socket.once('close', () => resolve({ open: false, closed }))
  })
}

describe('the metrics endpoint under a file-descriptor flood (issue 10)', () => {
  it('keeps the process and its pipeline alive, and serves /metrics again once idle connections time out', async () => {
    expect(DEFAULT_SERVE_OPTIONS.maxConnections).toBeLessThan(FD_LIMIT - 40)
    const child = await startFixture(3_000)
    const connections = await Promise.all(Array.from({ length: FLOOD }, () => idleConnection(child.url)))
    // The pipeline keeps opening files while the endpoint is flooded (the flood is still held:
    // the idle timeout has not closed every connection yet).
    const ticksBefore = child.ticks()
    let open = 0
    for (const connection of connections) connection.closed.then(() => open--)
    open = connections.length // every close above is counted after this line (then() is async)
    while (child.ticks() < ticksBefore + 5 && child.process.exitCode === null)
      await new Promise((resolve) => setTimeout(resolve, 5))
    expect(child.process.exitCode, child.stderr()).toBeNull()
    expect(child.ticks()).toBeGreaterThanOrEqual(ticksBefore + 5)
    expect(open).toBeGreaterThan(0)
    // Every flood connection ends: dropped on arrival over the limit, or closed when idle.
    await Promise.all(connections.map((c) => c.closed))
    expect(child.process.exitCode, child.stderr()).toBeNull()
    const response = await fetch(child.url, { headers: { connection: 'close' } })
    expect(response.status).toBe(200)
    const text = await response.text()
    const dropped = Number(/^sluice_metrics_connections_dropped_total (\d+)$/m.exec(text)?.[1])
    expect(dropped).toBeGreaterThanOrEqual(FLOOD - DEFAULT_SERVE_OPTIONS.maxConnections)
    expect(Number(/^sluice_fixture_segment_opens_total (\d+)$/m.exec(text)?.[1])).toBeGreaterThan(0)
    expect(child.process.exitCode, child.stderr()).toBeNull()
  })
})
