/**
 * Serves a registry at GET /metrics for Prometheus to scrape (loopback by default). Anything else
 * answers 404 with a JSON body naming the problem.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { MetricsRegistry } from './registry.ts'

export async function serveMetrics(
  registry: MetricsRegistry,
  port: number,
  host = '127.0.0.1',
): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((request, response) => {
    if (request.method === 'GET' && request.url === '/metrics') {
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' })
      response.end(registry.render())
      return
    }
    response.writeHead(404, { 'content-type': 'application/json' })
    response.end(
      JSON.stringify({
        error_code: 'NOT_FOUND',
        message: `no route ${request.method} ${request.url}; metrics are at GET /metrics`,
      }),
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, resolve)
  })
  const address = server.address() as AddressInfo
  return {
    url: `http://${host}:${address.port}/metrics`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}
