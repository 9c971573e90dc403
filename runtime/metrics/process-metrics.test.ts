import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { DROPPED_PROCESS_METRICS } from './process-metrics.ts'
import { MetricsRegistry } from './registry.ts'

/** The value of the one sample of `name` (without labels) in `text`. */
function sample(text: string, name: string): number {
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)
  if (!match) throw new Error(`no sample ${name} in:\n${text}`)
  return Number(match[1])
}

describe('process metrics', () => {
  it('exports CPU, memory, heap, event-loop lag, GC and file descriptors, in base units', async () => {
    const registry = new MetricsRegistry({ processMetrics: true })
    // Allocate until V8 has collected garbage at least once, so the GC histogram has a sample.
    let text = await registry.render()
    const garbage: unknown[] = []
    while (!/^nodejs_gc_duration_seconds_count\{kind="\w+"\} [1-9]/m.test(text)) {
      for (let i = 0; i < 100_000; i++) garbage.push({ i })
      garbage.length = 0
      await new Promise((resolve) => setImmediate(resolve))
      text = await registry.render()
    }
    expect(sample(text, 'process_cpu_seconds_total')).toBeGreaterThan(0)
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(1024 * 1024)
    expect(sample(text, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0)
    expect(sample(text, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0)
    expect(sample(text, 'process_open_fds')).toBeGreaterThan(2)
    expect(sample(text, 'process_max_fds')).toBeGreaterThan(2)
    expect(sample(text, 'process_start_time_seconds')).toBeGreaterThan(1_500_000_000)
    expect(text).toMatch(/^nodejs_heap_space_size_used_bytes\{space="old"\} \d+$/m)
    for (const name of DROPPED_PROCESS_METRICS) expect(text).not.toContain(`${name} `)
    expect(text).toMatch(/^nodejs_active_handles\{type="\w+"\} \d+$/m)
  })

  it('exports sluice_build_info with the version and the Node.js that runs it', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'))
    const text = await new MetricsRegistry({ processMetrics: true }).render()
    expect(text).toContain('# TYPE sluice_build_info gauge\n')
    expect(text).toContain(
      `sluice_build_info{arch="${process.arch}",node_version="${process.version}",platform="${process.platform}",v8_version="${process.versions.v8}",version="${version}"} 1\n`,
    )
  })

  it('refuses to register a name the process metrics export', () => {
    const registry = new MetricsRegistry({ processMetrics: true })
    expect(() => registry.gauge('process_open_fds', 'Mine.')).toThrow(
      'metric process_open_fds is already exported by the process metrics',
    )
    expect(() => new MetricsRegistry().gauge('process_open_fds', 'Mine.')).not.toThrow()
  })

  it('is not exported unless asked for', async () => {
    const text = await new MetricsRegistry().render()
    expect(text).not.toContain('process_')
    expect(text).not.toContain('sluice_build_info')
  })
})
