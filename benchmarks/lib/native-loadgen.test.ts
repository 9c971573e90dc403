import { execFile } from 'node:child_process'
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadArtifact } from '../../runtime/artifact/load.ts'
import { Gateway } from '../../runtime/gateway/gateway.ts'
import { streamCatalog } from '../../runtime/gateway/streams.ts'
import { EmbeddedLog } from '../../runtime/log/embedded.ts'
import { MetricsRegistry } from '../../runtime/metrics/registry.ts'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { buildLoadgen, findGo, LOADGEN_DIR, loadgenArgs, runNativeLoad } from './native-loadgen.ts'

const run = promisify(execFile)
const TEMPLATE = '{"id":"e{{seq}}","amount":{{seq%500}}.5}'

describe('loadgenArgs', () => {
  it('asks for requests (messages) per second, and names the stream’s route for the protocol', () => {
    const options = {
      url: 'http://127.0.0.1:8080',
      stream: 'pay ments',
      rate: 500_000,
      batch: 100,
      durationMs: 5000,
      warmupMs: 1000,
      connections: 4,
      template: TEMPLATE,
      headers: ['x-api-key: k'],
    }
    expect(loadgenArgs({ ...options, protocol: 'websocket' })).toEqual([
      '-url',
      'ws://127.0.0.1:8080/streams/pay%20ments/ws',
      '-rate',
      '5000',
      '-batch',
      '100',
      '-duration',
      '5000ms',
      '-warmup',
      '1000ms',
      '-connections',
      '4',
      '-template',
      TEMPLATE,
      '-header',
      'x-api-key: k',
    ])
    expect(loadgenArgs({ ...options, protocol: 'http', batch: 1, rate: 100_000 }).slice(0, 4)).toEqual([
      '-url',
      'http://127.0.0.1:8080/streams/pay%20ments/events',
      '-rate',
      '100000',
    ])
  })
})

describe('findGo', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-findgo-'))
    await mkdir(join(dir, 'bin'))
    await writeFile(join(dir, 'bin', 'go'), '#!/bin/sh\n')
    await chmod(join(dir, 'bin', 'go'), 0o755)
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  it('takes $GO first, then PATH, then the fallback, and null when there is none', () => {
    const onPath = join(dir, 'bin', 'go')
    expect(findGo({ PATH: join(dir, 'bin') }, '/nonexistent/go')).toBe(onPath)
    expect(findGo({ GO: onPath, PATH: '/nonexistent' }, '/nonexistent/go')).toBe(onPath)
    expect(findGo({ PATH: '/nonexistent' }, onPath)).toBe(onPath)
    expect(findGo({ PATH: '/nonexistent' }, '/nonexistent/go')).toBeNull()
  })
})

describe('buildLoadgen', () => {
  it('explains what is missing when there is no Go', async () => {
    await expect(buildLoadgen(null)).rejects.toThrow(/needs Go .* set GO=/)
  })
})

describe('the generator’s own tests (histogram, template, HTTP, WebSocket, cut-off)', () => {
  it('pass under go test', async () => {
    const go = findGo()
    expect(go, 'Go is needed to build the load generator').not.toBeNull()
    const { stdout } = await run(go!, ['test', '-count=1', './...'], {
      cwd: LOADGEN_DIR,
      env: { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=mod', CGO_ENABLED: '0' },
    })
    expect(stdout).toMatch(/^ok\s/m)
  }, 120_000)
})

describe('runNativeLoad against the gateway', () => {
  let binary: string
  let dataDir: string
  let log: EmbeddedLog
  let gateway: Gateway
  beforeAll(async () => {
    binary = await buildLoadgen()
    const artifact = await compileFixture(
      `schema Payment { id: string, amount: f64 }
source payments: Payment from kafka("payments")
stream large = payments | where amount >= 100.0
sink large -> kafka("large-payments")
`,
      'payments',
      'payments.pipe',
    )
    dataDir = await mkdtemp(join(tmpdir(), 'sluice-native-load-'))
    log = await EmbeddedLog.open(dataDir, { durability: 'none' })
    await log.ensureTopic('payments')
    gateway = await Gateway.start({
      log,
      streams: streamCatalog([await loadArtifact(artifact)]),
      metrics: new MetricsRegistry(),
      port: 0,
    })
  }, 120_000)
  afterAll(async () => {
    await gateway?.drain(1000)
    await log?.close()
    await rm(dataDir, { recursive: true, force: true })
    if (binary) await rm(dirname(binary), { recursive: true, force: true })
  })

  it('single-event HTTP and WebSocket batches: every event acknowledged, and in the log once', async () => {
    const common = {
      url: gateway.url,
      stream: 'payments',
      durationMs: 400,
      warmupMs: 100,
      template: TEMPLATE,
    }
    const http = await runNativeLoad(binary, {
      ...common,
      protocol: 'http',
      rate: 500,
      batch: 1,
      connections: 4,
    })
    expect(http).toMatchObject({
      sent: 200,
      acknowledged: 200,
      acknowledgedEvents: 200,
      errors: 0,
      timedOut: 0,
    })
    expect(http.refused).toEqual({})
    expect(http.latencyNs.count).toBe(200)
    expect(http.cpuSeconds).toBeGreaterThan(0)
    const ws = await runNativeLoad(binary, {
      ...common,
      protocol: 'websocket',
      rate: 5000,
      batch: 50,
      connections: 2,
    })
    expect(ws).toMatchObject({ sent: 40, acknowledged: 40, acknowledgedEvents: 2000, errors: 0, timedOut: 0 })
    // Warm-up requests are sent and appended too: 250 single events and 2,500 in batches.
    const [end] = await log.endOffsets('payments')
    expect(end).toBe(250 + 2500)
  }, 60_000)
})
