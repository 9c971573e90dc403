import { describe, expect, it } from 'vitest'
import { SharedMetricsRegistry } from './shared-registry.ts'

describe('SharedMetricsRegistry', () => {
  it('gives a second registrant the metric already registered, and renders both registrants’ series once', async () => {
    const registry = new SharedMetricsRegistry()
    registry.counter('sluice_events_in_total', 'Records read.').labels({ source: 'a' }).inc(2)
    registry.counter('sluice_events_in_total', 'Records read.').labels({ source: 'b' }).inc(3)
    registry.histogram('sluice_batch_seconds', 'Batch time.', [1]).observe(0.5)
    registry.histogram('sluice_batch_seconds', 'Batch time.', [1]).observe(2)
    registry.gauge('sluice_state_keys', 'Keys.', { collect: () => [{ labels: { step: 'x' }, value: 1 }] })
    registry.gauge('sluice_state_keys', 'Keys.', {
      collect: async () => [{ labels: { step: 'y' }, value: 4 }],
    })
    const text = await registry.render()
    expect(text.match(/# TYPE sluice_events_in_total/g)).toHaveLength(1)
    expect(text).toContain('sluice_events_in_total{source="a"} 2')
    expect(text).toContain('sluice_events_in_total{source="b"} 3')
    expect(text).toContain('sluice_batch_seconds_count 2')
    expect(text).toContain('sluice_state_keys{step="x"} 1')
    expect(text).toContain('sluice_state_keys{step="y"} 4')
  })

  it('still refuses one name for two kinds of metric', () => {
    const registry = new SharedMetricsRegistry()
    registry.counter('sluice_things_total', 'Things.')
    expect(() => registry.gauge('sluice_things_total', 'Things.')).toThrow(/registered twice/)
  })
})
