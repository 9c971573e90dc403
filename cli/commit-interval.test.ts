import { describe, expect, it } from 'vitest'
import { UsageError } from './args.ts'
import { consumerTiming } from './pipeline-node.ts'

describe('sluice run/serve --commit-interval', () => {
  it('becomes KafkaLogOptions.commitIntervalMs; 0 (after every batch) is allowed, absent leaves the default', () => {
    expect(consumerTiming({ 'commit-interval': '1000' })).toEqual({ commitIntervalMs: 1000 })
    expect(consumerTiming({ 'commit-interval': '0' })).toEqual({ commitIntervalMs: 0 })
    expect(consumerTiming({})).toEqual({})
    expect(consumerTiming({ 'commit-interval': '100', 'kafka-heartbeat-interval': '500' })).toEqual({
      commitIntervalMs: 100,
      heartbeatIntervalMs: 500,
    })
  })

  it('refuses what is not a whole number of milliseconds, naming the flag', () => {
    for (const bad of ['-1', '1.5', 'soon', '']) {
      expect(() => consumerTiming({ 'commit-interval': bad })).toThrow(UsageError)
    }
    expect(() => consumerTiming({ 'commit-interval': 'soon' })).toThrow(/--commit-interval/)
  })
})
