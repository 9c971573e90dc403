/**
 * The Node.js process metrics operators expect (CPU seconds, resident and virtual memory, heap by
 * space, external memory, event-loop lag, GC durations by kind, open and maximum file
 * descriptors, start time, Node.js version): prom-client's `collectDefaultMetrics`, the collectors
 * Node dashboards are built on, in a private prom-client registry (never its global one).
 *
 * They describe the process, not a registry, and prom-client's GC observer and event-loop monitor
 * cannot be stopped once started, so there is one collector set per process, created on first use
 * and shared by every MetricsRegistry that asks for process metrics.
 */
import { readFileSync } from 'node:fs'
import { collectDefaultMetrics, Registry } from 'prom-client'

/**
 * prom-client's gauges whose names end in `_total`, which promtool rejects ("non-counter metrics
 * should not have _total suffix"). Their content is still exported: `nodejs_active_handles`,
 * `nodejs_active_requests` and `nodejs_active_resources` count the same things by type.
 */
export const DROPPED_PROCESS_METRICS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
] as const

let shared: Registry | null = null

function processRegistry(): Registry {
  if (!shared) {
    const registry = new Registry()
    collectDefaultMetrics({ register: registry })
    for (const name of DROPPED_PROCESS_METRICS) registry.removeSingleMetric(name)
    shared = registry
  }
  return shared
}

/** Whether `name` is one of the process metrics (so a registry exporting them must not reuse it). */
export function isProcessMetricName(name: string): boolean {
  return processRegistry().getSingleMetric(name) !== undefined
}

/** The process metrics in Prometheus text format, ending with a newline. */
export async function renderProcessMetrics(): Promise<string> {
  // prom-client separates metric families with a blank line; the exposition needs none.
  const text = await processRegistry().metrics()
  return text.replace(/\n\n+/g, '\n')
}

/** Labels of `sluice_build_info`: which Sluice, on which Node.js. */
export function buildInfoLabels(): Record<string, string> {
  return {
    version: sluiceVersion(),
    node_version: process.version,
    v8_version: process.versions.v8,
    platform: process.platform,
    arch: process.arch,
  }
}

let version: string | null = null

function sluiceVersion(): string {
  if (version === null) {
    const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: unknown
    }
    version = typeof manifest.version === 'string' ? manifest.version : 'unknown'
  }
  return version
}
