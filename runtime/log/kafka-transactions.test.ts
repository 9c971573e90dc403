import { type Kafka, KafkaJSProtocolError } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { isSluiceError } from '../errors.ts'
import { TransactionalProducer } from './kafka-transactions.ts'

/** A protocol error as kafkajs builds one from a broker's error code (its typings take only a message). */
function protocolError(type: string): Error {
  return new KafkaJSProtocolError({ type, code: 0, retriable: false, message: type } as unknown as Error)
}

/** A kafkajs client whose transactions' sends fail with `sendErrors` in turn, recording what is called. */
function fakeKafka(sendErrors: (Error | undefined)[]) {
  const calls: string[] = []
  const transaction = {
    send: async () => {
      calls.push('send')
      const error = sendErrors.shift()
      if (error) throw error
      return [{ topicName: 't', partition: 0, errorCode: 0, baseOffset: '0' }]
    },
    abort: async () => {
      calls.push('abort')
    },
    isActive: () => true,
  }
  const producer = {
    connect: async () => {},
    disconnect: async () => {
      calls.push('disconnect')
    },
    transaction: async () => transaction,
  }
  return { kafka: { producer: () => producer } as unknown as Kafka, calls }
}

async function open(kafka: Kafka): Promise<TransactionalProducer> {
  return TransactionalProducer.open({
    kafka,
    transactionalId: 'tx.t.0',
    retries: 1,
    transactionTimeoutMs: 60_000,
    mapError: (error) => error,
  })
}

const record = { topic: 't', messages: [{ value: 'v', partition: 0 }] }

describe('TransactionalProducer after the broker refused its sequence', () => {
  for (const type of ['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID']) {
    it(`aborts the transaction and ends as fenced on ${type}`, async () => {
      const { kafka, calls } = fakeKafka([protocolError(type)])
      const producer = await open(kafka)
      const error = await producer.send(record).catch((e: unknown) => e)
      expect(isSluiceError(error, 'LOG_FENCED')).toBe(true)
      expect(calls).toEqual(['send', 'abort'])
      // Every later send and commit fails the same way without reaching the broker.
      await expect(producer.send(record)).rejects.toBe(error)
      await expect(producer.commit('g', [{ topic: 'in', partition: 0, offset: 1 }], '')).rejects.toBe(error)
      expect(calls).toEqual(['send', 'abort'])
    })
  }

  it('leaves the transaction usable after a failure that refused only the batch', async () => {
    const refused = protocolError('MESSAGE_TOO_LARGE')
    const { kafka, calls } = fakeKafka([refused])
    const producer = await open(kafka)
    await expect(producer.send(record)).rejects.toBe(refused)
    await expect(producer.send(record)).resolves.toHaveLength(1)
    expect(calls).toEqual(['send', 'send'])
  })
})
