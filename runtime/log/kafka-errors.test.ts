import { KafkaJSConnectionError, KafkaJSProtocolError } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { isUnavailable } from './kafka.ts'

/** A protocol error as kafkajs builds one from a broker's error code (its typings take only a message). */
function protocolError(type: string, retriable: boolean): Error {
  return new KafkaJSProtocolError({ type, code: 0, retriable, message: type } as unknown as Error)
}

describe('Kafka errors that mean "try again later"', () => {
  it('counts a cluster still settling after a broker restart as unavailable', () => {
    for (const type of ['NOT_COORDINATOR', 'COORDINATOR_LOAD_IN_PROGRESS', 'LEADER_NOT_AVAILABLE']) {
      expect(isUnavailable(protocolError(type, true))).toBe(true)
    }
    expect(isUnavailable(new KafkaJSConnectionError('closed'))).toBe(true)
  })

  it('leaves errors retrying cannot fix alone', () => {
    for (const type of ['UNKNOWN_TOPIC_OR_PARTITION', 'TOPIC_AUTHORIZATION_FAILED', 'INVALID_TIMESTAMP']) {
      expect(isUnavailable(protocolError(type, false))).toBe(false)
    }
    expect(isUnavailable(new Error('something else'))).toBe(false)
  })
})
