import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { loadSync } from '@grpc/proto-loader'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { PROTO_FILE } from '../runtime/gateway/grpc.ts'
import { EmbeddedLog } from '../runtime/log/embedded.ts'
import type { LogRecord } from '../runtime/log/index.ts'
import { runCli } from '../test/support/capture-io.ts'
import { compileFixture } from '../test/support/compile-fixture.ts'
import { connectWebSocket } from '../test/support/ws-client.ts'
import type { CommandIO } from './command.ts'
import { defaultGatewayThreads, serveSettings, WORKER_HEAP_MB } from './commands/serve.ts'
import { main } from './main.ts'

const PIPE = `
schema Payment { id: string, card: string, amount: f64, ts: timestamp @event_time }
source payments: Payment from kafka("payments")
stream large = payments | where amount >= 100.0 | select { id, card, cents: to_i64(amount * 100.0) } | key by card
sink large -> kafka("large-payments")
`

let artifactDir: string
beforeAll(async () => {
  artifactDir = await compileFixture(PIPE, 'payments', 'payments.pipe')
})

const dirs: string[] = []
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
})

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-serve-'))
  dirs.push(dir)
  return dir
}

/** `sluice serve` in-process with --log-format json; resolves the 'serving' record, stops on stop(). */
function startServe(...argv: string[]) {
  let stderr = ''
  let stop: () => void = () => {}
  const interrupted = new Promise<void>((resolve) => {
    stop = resolve
  })
  let onServing: (record: Record<string, unknown>) => void = () => {}
  const serving = new Promise<Record<string, unknown>>((resolve) => {
    onServing = resolve
  })
  const io: CommandIO = {
    stdout: () => {},
    stderr: (text) => {
      stderr += text
      for (const line of text.split('\n')) {
        if (line.includes('"serving"')) onServing(JSON.parse(line))
      }
    },
    color: false,
    interrupted,
  }
  const exit = main(['serve', '--log-format', 'json', ...argv], io)
  return {
    serving: Promise.race([
      serving,
      exit.then((code) => Promise.reject(new Error(`serve exited ${code}: ${stderr}`))),
    ]),
    exit,
    stop,
    stderr: () => stderr,
  }
}

/** `sluice serve` of PIPE's artifact on the embedded log in `dataDir`, the gateway on `gateway`. */
function serveRun(gateway: string, dataDir: string, ...more: string[]) {
  return startServe('--gateway', gateway, '--run', artifactDir, '--data-dir', dataDir, ...more)
}

async function readTopic(dataDir: string, topic: string): Promise<LogRecord[]> {
  const log = await EmbeddedLog.openReadOnly(dataDir)
  try {
    const ends = await log.endOffsets(topic).catch(() => [] as number[])
    const records: LogRecord[] = []
    for (let p = 0; p < ends.length; p++) records.push(...(await log.read(topic, p, 0, 100_000)))
    return records
  } finally {
    await log.close()
  }
}

async function eventually<T>(
  read: () => Promise<T>,
  ok: (value: T) => boolean,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (ok(value) || Date.now() > deadline) return value
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** POSTs `body` to the gateway at `url` as events of the payments stream. */
function postPayments(url: string, body: string, contentType = 'application/json'): Promise<Response> {
  return fetch(`${url}/streams/payments/events`, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body,
  })
}

/** The sink topic of PIPE in `dataDir`, once `ok` holds of it (or the wait ran out). */
function largePayments(dataDir: string, ok: (records: LogRecord[]) => boolean): Promise<LogRecord[]> {
  return eventually(() => readTopic(dataDir, 'large-payments'), ok)
}

describe('sluice serve', () => {
  it('runs the gateway and the pipeline on one embedded log: posted events flow to the sink topic, and a stop loses nothing acknowledged', async () => {
    const dataDir = await tempDir()
    const node = serveRun('127.0.0.1:0', dataDir, '--key-field', 'payments=card', '--partitions', '2')
    const serving = await node.serving
    expect(serving.streams).toEqual(['payments'])
    expect(serving.pipelines).toEqual(['payments'])
    const url = serving.gateway as string
    const events = Array.from({ length: 40 }, (_, i) => ({
      id: `p${i}`,
      card: `c${i % 5}`,
      amount: i * 10,
      ts: 1_700_000_000_000 + i,
    }))
    const answer = await postPayments(
      url,
      events.map((e) => JSON.stringify(e)).join('\n'),
      'application/x-ndjson',
    )
    expect(answer.status).toBe(200)
    const ws = await connectWebSocket(`${url}/streams/payments/ws`)
    ws.send(JSON.stringify([{ id: 'w1', card: 'c1', amount: 500, ts: 1_700_000_000_100 }]))
    expect(JSON.parse(await ws.next())).toMatchObject({ seq: 1, accepted: 1 })

    const large = events.filter((e) => e.amount >= 100).length + 1
    // The pipeline reads what the gateway appended, while the node serves.
    const sink = await largePayments(dataDir, (records) => records.length >= large)
    expect(new Set(sink.map((r) => JSON.parse(r.value.toString()).id)).size).toBe(large)
    node.stop()
    expect(await node.exit).toBe(0)
    expect(node.stderr()).toMatch(/"draining"/)
    expect(node.stderr()).toMatch(/processed 41 events/)
    // Everything acknowledged is in the source topic.
    expect(await readTopic(dataDir, 'payments')).toHaveLength(41)
    for (const record of sink) expect(record.key).toBe(JSON.parse(record.value.toString()).card)
  })

  it('serves from worker threads with --gateway-threads 2: what they acknowledge is in the log and reaches the pipeline', async () => {
    const dataDir = await tempDir()
    const node = serveRun('127.0.0.1:0', dataDir, '--gateway-threads', '2')
    const url = (await node.serving).gateway as string
    const events = Array.from({ length: 20 }, (_, i) => ({
      id: `t${i}`,
      card: `c${i % 3}`,
      amount: 100 + i,
      ts: 1_700_000_000_000 + i,
    }))
    // Several connections at once, so the kernel may hand them to either worker.
    const answers = await Promise.all(
      events.map((event) => postPayments(url, JSON.stringify(event)).then((r) => r.status)),
    )
    expect(answers).toEqual(Array(20).fill(200))
    const ws = await connectWebSocket(`${url}/streams/payments/ws`)
    ws.send(JSON.stringify([{ id: 'w1', card: 'c1', amount: 500, ts: 1_700_000_000_100 }, { id: 'bad' }]))
    expect(JSON.parse(await ws.next())).toMatchObject({ seq: 1, accepted: 1, rejected: 1 })
    const metrics = await (await fetch(`${url}/metrics`)).text()
    expect(metrics).toMatch(/sluice_gateway_events_total\{outcome="accepted",stream="payments"\} 21/)
    const sink = await largePayments(dataDir, (records) => records.length >= 21)
    expect(new Set(sink.map((r) => JSON.parse(r.value.toString()).id)).size).toBe(21)
    node.stop()
    expect(await node.exit).toBe(0)
    expect(await readTopic(dataDir, 'payments')).toHaveLength(21)
  })

  it('takes the gateway threads from a flag or the config: the cores but one by default, 1 on two cores or fewer', () => {
    const base = { gateway: '0', run: [artifactDir] }
    expect(serveSettings(base, {}).gatewayThreads).toBe(defaultGatewayThreads())
    expect(defaultGatewayThreads(1)).toBe(1)
    expect(defaultGatewayThreads(2)).toBe(1)
    expect(defaultGatewayThreads(8)).toBe(7)
    expect(
      serveSettings({ ...base, 'gateway-threads': '3' }, { gateway: { threads: 2 } }).gatewayThreads,
    ).toBe(3)
    expect(serveSettings(base, { gateway: { threads: 2 } }).gatewayThreads).toBe(2)
    expect(() => serveSettings({ ...base, 'gateway-threads': '0' }, {})).toThrow(
      /--gateway-threads must be a positive integer, got "0"/,
    )
  })

  it('sets the V8 heap limit of each gateway worker thread with --gateway-worker-heap-mb: the workers run with it (their heap limit gauge) and serve', async () => {
    const dataDir = await tempDir()
    const node = serveRun('127.0.0.1:0', dataDir, '--gateway-threads', '2', '--gateway-worker-heap-mb', '32')
    const url = (await node.serving).gateway as string
    expect(
      (await postPayments(url, JSON.stringify({ id: 'h1', card: 'c1', amount: 120, ts: 1 }))).status,
    ).toBe(200)
    const limits = [
      ...(await (await fetch(`${url}/metrics`)).text()).matchAll(
        /^sluice_gateway_worker_heap_limit_bytes\{worker="(\d)"\} (\d+)$/gm,
      ),
    ]
    expect(limits.map((match) => match[1]).sort()).toEqual(['0', '1'])
    // V8's limit is the old generation asked for plus the young generation (32 MiB more here, for the minimum 32): far
    // below Node's default, which is sized by the machine's memory (4 GiB here).
    for (const [, , bytes] of limits) {
      expect(Number(bytes)).toBeGreaterThanOrEqual(32 * 2 ** 20)
      expect(Number(bytes)).toBeLessThanOrEqual(128 * 2 ** 20)
    }
    node.stop()
    expect(await node.exit).toBe(0)
  })

  it('checks --gateway-worker-heap-mb and config gateway.workerHeapMb: whole MiB in range, and only with worker threads', () => {
    const base = { gateway: '0', run: [artifactDir] }
    expect(serveSettings(base, {}).gatewayWorkerHeapMb).toBeUndefined()
    expect(serveSettings({ ...base, 'gateway-worker-heap-mb': '256' }, {}).gatewayWorkerHeapMb).toBe(256)
    expect(
      serveSettings({ ...base, 'gateway-worker-heap-mb': '256' }, { gateway: { workerHeapMb: 128 } })
        .gatewayWorkerHeapMb,
    ).toBe(256)
    expect(serveSettings(base, { gateway: { workerHeapMb: 128 } }).gatewayWorkerHeapMb).toBe(128)
    for (const bad of ['0', '-5', '1.5', 'lots', '', String(WORKER_HEAP_MB.min - 1), '536870912'])
      expect(() => serveSettings({ ...base, 'gateway-worker-heap-mb': bad }, {})).toThrow(
        `--gateway-worker-heap-mb must be whole MiB from ${WORKER_HEAP_MB.min} to ${WORKER_HEAP_MB.max}, got "${bad}"`,
      )
    expect(() => serveSettings(base, { gateway: { workerHeapMb: '64' } })).toThrow(
      /config gateway.workerHeapMb: expected whole MiB from 32 to 1048576, got "64"/,
    )
    expect(() =>
      serveSettings({ ...base, 'gateway-threads': '1', 'gateway-worker-heap-mb': '64' }, {}),
    ).toThrow(
      /the worker heap limit \(--gateway-worker-heap-mb, gateway.workerHeapMb\) limits worker threads, and 1 gateway thread/,
    )
    expect(() => serveSettings(base, { gateway: { threads: 1, workerHeapMb: 64 } })).toThrow(
      /limits worker threads/,
    )
    // With the thread count left to its default (1 on small machines), it is accepted, and ignored with a warning there.
    expect(serveSettings({ ...base, 'gateway-worker-heap-mb': '64' }, {}).gatewayWorkerHeapMb).toBe(64)
  })

  it('processes while it serves: an event posted now reaches the sink while the node runs', async () => {
    const dataDir = await tempDir()
    const node = serveRun('0', dataDir, '--durability', '10ms')
    const url = (await node.serving).gateway as string
    const answer = await postPayments(
      url,
      JSON.stringify({ id: 'live', card: 'c', amount: 250, ts: 1_700_000_000_000 }),
    )
    expect(answer.status).toBe(200)
    const sink = await largePayments(dataDir, (records) => records.length > 0)
    expect(JSON.parse(sink[0]!.value.toString())).toEqual({ id: 'live', card: 'c', cents: 25000 })
    node.stop()
    expect(await node.exit).toBe(0)
  })

  it('runs several pipelines in one node: two artifacts reading the same source both process what the gateway takes', async () => {
    const audit = await compileFixture(
      `
schema Payment { id: string, card: string, amount: f64, ts: timestamp @event_time }
source payments: Payment from kafka("payments")
stream seen = payments | aggregate by card { n: count() }
sink seen -> kafka("cards-seen")
`,
      'audit',
      'audit.pipe',
    )
    const dataDir = await tempDir()
    const node = serveRun('0', dataDir, '--run', audit, '--metrics-port', '0')
    const serving = await node.serving
    expect(serving.pipelines).toEqual(['payments', 'audit'])
    const answer = await postPayments(
      serving.gateway as string,
      JSON.stringify([
        { id: 'a', card: 'c1', amount: 500, ts: 0 },
        { id: 'b', card: 'c1', amount: 5, ts: 1 },
      ]),
    )
    expect(answer.status).toBe(200)
    const large = await largePayments(dataDir, (records) => records.length >= 1)
    expect(large.map((r) => JSON.parse(r.value.toString()).id)).toEqual(['a'])
    const seen = await eventually(
      () => readTopic(dataDir, 'cards-seen'),
      (records) => records.some((r) => JSON.parse(r.value.toString()).n === 2),
    )
    expect(seen.map((r) => JSON.parse(r.value.toString()))).toContainEqual({ card: 'c1', n: 2 })
    // One scrape shows both pipelines' series under one metric.
    const metrics = await (await fetch(serving.metrics as string)).text()
    expect(metrics.match(/# TYPE sluice_events_in_total counter/g)).toHaveLength(1)
    expect(metrics).toMatch(/sluice_events_out_total\{[^}]*topic="large-payments"[^}]*\} 1/)
    expect(metrics).toMatch(/sluice_events_out_total\{[^}]*topic="cards-seen"[^}]*\} [12]/)
    node.stop()
    expect(await node.exit).toBe(0)
  })

  it('serves gRPC beside HTTP with --grpc: a Publish reaches the sink', async () => {
    const dataDir = await tempDir()
    const node = serveRun('0', dataDir, '--grpc', '127.0.0.1:0')
    const address = (await node.serving).grpc as string
    const loaded = grpc.loadPackageDefinition(
      loadSync(PROTO_FILE.pathname, { keepCase: true, longs: Number, defaults: true }),
    ) as unknown as {
      sluice: {
        gateway: {
          v1: { Gateway: new (address: string, credentials: grpc.ChannelCredentials) => grpc.Client }
        }
      }
    }
    const client = new loaded.sluice.gateway.v1.Gateway(
      address,
      grpc.credentials.createInsecure(),
    ) as grpc.Client & {
      Publish(request: unknown, callback: (error: Error | null, reply: { accepted: number }) => void): void
    }
    const reply = await new Promise<{ accepted: number }>((resolve, reject) =>
      client.Publish(
        {
          stream: 'payments',
          events: [{ json: Buffer.from(JSON.stringify({ id: 'g1', card: 'c', amount: 300, ts: 0 })) }],
        },
        (error, r) => (error ? reject(error) : resolve(r)),
      ),
    )
    expect(reply.accepted).toBe(1)
    const sink = await largePayments(dataDir, (records) => records.length > 0)
    expect(JSON.parse(sink[0]!.value.toString())).toMatchObject({ id: 'g1', cents: 30000 })
    client.close()
    node.stop()
    expect(await node.exit).toBe(0)
  })

  it('takes its settings from a --config file, flags winning', async () => {
    const dataDir = await tempDir()
    const config = join(await tempDir(), 'serve.json')
    await writeFile(
      config,
      JSON.stringify({
        gateway: {
          listen: '127.0.0.1:0',
          maxEventBytes: 100,
          limits: { stream: { eventsPerSecond: 1, burst: 1 } },
        },
        run: [artifactDir],
        log: { dataDir },
      }),
    )
    const node = startServe('--config', config, '--max-event-bytes', '120')
    const url = (await node.serving).gateway as string
    const post = (body: string) => postPayments(url, body)
    const big = await post(JSON.stringify({ id: 'x'.repeat(110), card: 'c', amount: 1, ts: 0 }))
    expect(big.status).toBe(413)
    expect((await big.json()).rule).toBe('at most 120 bytes')
    expect((await post(JSON.stringify({ id: 'a', card: 'c', amount: 1, ts: 0 }))).status).toBe(200)
    expect((await post(JSON.stringify({ id: 'b', card: 'c', amount: 1, ts: 0 }))).status).toBe(429)
    node.stop()
    expect(await node.exit).toBe(0)
  })

  it('accepts the configuration example of the README as it is written', async () => {
    const readme = await readFile(join(import.meta.dirname, '..', 'README.md'), 'utf8')
    const section = readme.slice(readme.indexOf('## Serving events'))
    const example = /```json\n([\s\S]*?)```/.exec(section)![1]!
    const settings = serveSettings({}, JSON.parse(example))
    expect(settings.gateway).toEqual({ host: '0.0.0.0', port: 8080 })
    expect(settings.grpc).toEqual({ host: '0.0.0.0', port: 8081 })
    expect(settings.keyFields).toEqual({ payments: 'card' })
    expect(settings.limits.apiKeys?.['batch-loader']).toEqual({ eventsPerSecond: 5000, burst: 5000 })
    expect(settings.log).toEqual({ 'data-dir': '.sluice', durability: 'batch' })
  })

  it('takes the hard cap on a WebSocket message from a flag or the config, 4 × the request size by default, never below it', () => {
    const base = { gateway: '0', run: [artifactDir], 'max-event-bytes': '500' }
    expect(serveSettings({ ...base, 'max-request-bytes': '1000' }, {}).maxWebSocketMessageBytes).toBe(4000)
    expect(
      serveSettings({ ...base, 'max-ws-message-bytes': '5000' }, { gateway: { maxRequestBytes: 1000 } })
        .maxWebSocketMessageBytes,
    ).toBe(5000)
    expect(
      serveSettings(base, { gateway: { maxRequestBytes: 1000, maxWebSocketMessageBytes: 1000 } })
        .maxWebSocketMessageBytes,
    ).toBe(1000)
    expect(() =>
      serveSettings({ ...base, 'max-request-bytes': '1000', 'max-ws-message-bytes': '999' }, {}),
    ).toThrow(
      /the hard cap on a WebSocket message \(999 bytes\) cannot be below the largest request \(1000\)/,
    )
  })

  it('reports every configuration problem at once as a usage error', async () => {
    const config = join(await tempDir(), 'bad.json')
    await writeFile(
      config,
      JSON.stringify({
        gateway: { listen: 'nowhere', maxEventBytes: -1, colour: 'red' },
        metrics: { port: 70000 },
      }),
    )
    const result = await runCli(
      'serve',
      '--log-format',
      'text',
      '--config',
      config,
      '--max-request-bytes',
      'lots',
    )
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/config gateway\.colour: unknown field/)
    expect(result.stderr).toMatch(/config gateway\.listen "nowhere": expected \[HOST:\]PORT/)
    expect(result.stderr).toMatch(/config gateway\.maxEventBytes: expected a positive integer, got -1/)
    expect(result.stderr).toMatch(/--max-request-bytes must be a positive integer, got "lots"/)
    expect(result.stderr).toMatch(/config metrics\.port: expected a port/)
    const nothing = await runCli('serve', '--log-format', 'text')
    expect(nothing.code).toBe(2)
    expect(nothing.stderr).toMatch(/nothing to serve/)
    const grpcAlone = await runCli('serve', '--log-format', 'text', '--grpc', '0', '--run', artifactDir)
    expect(grpcAlone.stderr).toMatch(/--grpc serves the gateway over gRPC: give --gateway too/)
    const noStreams = await runCli('serve', '--log-format', 'text', '--gateway', '0')
    expect(noStreams.stderr).toMatch(/the gateway needs streams/)
    const badKey = await runCli(
      'serve',
      '--log-format',
      'text',
      '--gateway',
      '0',
      '--run',
      artifactDir,
      '--key-field',
      'refunds=id',
      '--data-dir',
      await tempDir(),
    )
    expect(badKey.code).toBe(2)
    expect(badKey.stderr).toMatch(/stream refunds, which no artifact has as a source/)
  })

  it('fails with the reason when the gateway cannot listen, and leaves the data directory free', async () => {
    const dataDir = await tempDir()
    const first = startServe(
      '--gateway',
      '127.0.0.1:0',
      '--ingest',
      artifactDir,
      '--data-dir',
      await tempDir(),
    )
    const port = new URL((await first.serving).gateway as string).port
    const second = await runCli(
      'serve',
      '--log-format',
      'text',
      '--gateway',
      `127.0.0.1:${port}`,
      '--run',
      artifactDir,
      '--data-dir',
      dataDir,
    )
    expect(second.code).toBe(1)
    expect(second.stderr).toMatch(/cannot listen on 127\.0\.0\.1:\d+/)
    first.stop()
    expect(await first.exit).toBe(0)
    const reopened = await EmbeddedLog.open(dataDir)
    await reopened.close()
  })
})
