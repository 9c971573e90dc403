import { KafkaJSConnectionError, KafkaJSProtocolError } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { isUnavailable } from './kafka.ts'

describe('Kafka errors that mean "try again later"', () => {
  it('counts a cluster still settling after a broker restart as unavailable', () => {
    for (const type of ['NOT_COORDINATOR', 'COORDINATOR_LOAD_IN_PROGRESS', 'LEADER_NOT_AVAILABLE']) {
      const error = new KafkaJSProtocolError({ type, code: 0, retriable: true, message: type })
      expect(isUnavailable(error)).toBe(true)
    }
    expect(isUnavailable(new KafkaJSConnectionError('closed'))).toBe(true)
  })

  it('leaves errors retrying cannot fix alone', () => {
    for (const type of ['UNKNOWN_TOPIC_OR_PARTITION', 'TOPIC_AUTHORIZATION_FAILED', 'INVALID_TIMESTAMP']) {
      const error = new KafkaJSProtocolError({ type, code: 0, retriable: false, message: type })
      expect(isUnavailable(error)).toBe(false)
    }
    expect(isUnavailable(new Error('something else'))).toBe(false)
  })
})
