/**
 * `promtool check metrics` (Prometheus' own parser and linter) over what a real pipeline node
 * serves at /metrics: the runner's metrics, the metrics server's own, the Node.js process metrics
 * and sluice_build_info. promtool comes from Debian's `prometheus` package, which
 * scripts/install-system-deps.sh installs; without it these tests fail, they do not skip.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { loadArtifact } from '../artifact/load.ts'
import { EmbeddedLog } from '../log/embedded.ts'
import { PipelineRunner } from '../node/pipeline-runner.ts'
import { MetricsRegistry } from './registry.ts'
import { serveMetrics } from './serve.ts'

const PIPE = `
schema Order { id: string, customer: string, qty: i64, price: f64, ts: timestamp @event_time }
source orders: Order from kafka("orders") watermark ts - 2s

stream big = orders
  | where qty > 0
  | select { id, customer, total: price * to_f64(qty), per_unit: qty / (qty - 5), ts }
  | key by customer

sink big -> kafka("big-orders")
`

/** Runs `promtool check metrics` on `text`: its exit code and what it printed (the problems). */
function promtoolCheckMetrics(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile('promtool', ['check', 'metrics'], (error, stdout, stderr) => {
      const code = error && typeof error.code === 'number' ? error.code : error ? null : 0
      if (code === null)
        reject(
          new Error(
            `cannot run promtool (install it with scripts/install-system-deps.sh): ${error?.message}`,
          ),
        )
      else resolve({ code, output: `${stdout}${stderr}` })
    })
    child.stdin?.end(text)
  })
}

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

describe('promtool check metrics', () => {
  it('finds no problem in the /metrics of a pipeline node that ran events and dead letters', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sluice-promtool-'))
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }))
    const log = await EmbeddedLog.open(dataDir, { fsync: 'never' })
    cleanups.push(() => log.close())
    await log.ensureTopic('orders')
    const order = (id: string, qty: number) =>
      Buffer.from(JSON.stringify({ id, customer: `c-${id}`, qty, price: 20, ts: 1_700_000_000_000 }))
    await log.append('orders', [
      { key: null, value: order('a', 2) },
      { key: null, value: order('b', 5) }, // qty / (qty - 5): division by zero, dead-lettered
      { key: null, value: Buffer.from('not json') },
    ])
    const metrics = new MetricsRegistry({ processMetrics: true })
    const runner = await PipelineRunner.start({
      log,
      artifact: await loadArtifact(await compileFixture(PIPE, 'orders', 'orders.pipe')),
      metrics,
    })
    cleanups.push(async () => {
      await runner.stop()
      await runner.done
    })
    await runner.waitUntilCaughtUp(20_000)
    const server = await serveMetrics(metrics, 0)
    cleanups.push(() => server.close())

    const response = await fetch(server.url, { headers: { connection: 'close' } })
    const text = await response.text()
    // promtool passes empty input, so first make sure there is something to check.
    expect(text).toMatch(/^sluice_events_in_total\{source="orders"\} 3$/m)
    expect(text).toMatch(/^sluice_dead_letters_total\{stage="\w+"\} 1$/m)
    expect(text).toMatch(/^sluice_batch_processing_seconds_count\b/m)
    expect(text).toMatch(/^sluice_build_info\{.*\} 1$/m)
    expect(text).toMatch(/^process_resident_memory_bytes \d+$/m)
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m)
    expect(await promtoolCheckMetrics(text)).toEqual({ code: 0, output: '' })
    // The registry's own lint agrees: no metric the runtime defines breaks a naming convention.
    expect(metrics.lint()).toEqual([])
  })

  it('reports the same convention problems as the registry lint', async () => {
    const registry = new MetricsRegistry()
    registry.gauge('sluice_watermark_ms', 'Watermark.').set(1)
    registry.counter('sluice_events', 'Events.').inc()
    registry.gauge('sluice_lag_milliseconds', 'Lag.').set(1)
    registry.gauge('sluice_in_flight_total', 'In flight.').set(1)
    registry.gauge('sluice_queue_kilobytes', 'Queue.').set(1)
    registry.gauge('sluice_fooBar', '').set(1, { sinkName: 'x' })
    registry.counter('sluice_x_counter_total', 'X.').inc()
    registry.gauge('sluice_y_count', 'Y.').set(1, { le: '1' })
    registry.counter('sluice_ok_bytes_total', 'Fine.').inc()
    const { code, output } = await promtoolCheckMetrics(await registry.render())
    expect(code).not.toBe(0)
    const promtool = output.trim().split('\n').sort()
    // promtool prints "name problem"; the registry prints "name: problem" (labels add "label x:").
    const ours = registry
      .lint()
      .map((line) => line.replace(/: (label \w+: )?/, ' '))
      .sort()
    expect(ours).toEqual(promtool)
  })
})
