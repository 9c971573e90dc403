import { afterEach, describe, expect, it } from 'vitest'
import { MetricsRegistry } from './registry.ts'
import { serveMetrics } from './serve.ts'

let close: (() => Promise<void>) | undefined
afterEach(async () => {
  await close?.()
  close = undefined
})

describe('serveMetrics', () => {
  it('serves the registry at GET /metrics in the Prometheus text format', async () => {
    const registry = new MetricsRegistry()
    registry.counter('sluice_events_in_total', 'Records read.').labels({ source: 'a' }).inc(5)
    const server = await serveMetrics(registry, 0)
    close = server.close
    const response = await fetch(server.url)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    expect(await response.text()).toContain('sluice_events_in_total{source="a"} 5')
  })

  it('answers any other route with 404 and a JSON body naming the problem', async () => {
    const server = await serveMetrics(new MetricsRegistry(), 0)
    close = server.close
    const response = await fetch(server.url.replace('/metrics', '/nope'))
    expect(response.status).toBe(404)
    expect(await response.json()).toEqual({
      error_code: 'NOT_FOUND',
      message: 'no route GET /nope; metrics are at GET /metrics',
    })
  })
})
