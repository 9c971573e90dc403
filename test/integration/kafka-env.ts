/**
 * Where the integration tests find Kafka: SLUICE_KAFKA_BROKERS (comma-separated host:port), as
 * exported by scripts/test-integration.sh after scripts/servers/kafka.sh started the broker.
 */
import { randomUUID } from 'node:crypto'
import { KafkaLog, type KafkaLogOptions } from '../../runtime/log/kafka.ts'

export const DEFAULT_KAFKA_BROKERS = '127.0.0.1:19092'

export function kafkaBrokers(): string[] {
  const raw = process.env.SLUICE_KAFKA_BROKERS ?? DEFAULT_KAFKA_BROKERS
  const brokers = raw
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b.length > 0)
  if (brokers.length === 0) throw new Error(`SLUICE_KAFKA_BROKERS='${raw}' names no broker`)
  return brokers
}

/** A topic or group name no other test (or earlier run against the same broker) uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`
}

/** Connects a KafkaLog to the test broker; the options override the defaults. */
export function connectKafkaLog(options: Partial<KafkaLogOptions> = {}): Promise<KafkaLog> {
  return KafkaLog.connect({ brokers: kafkaBrokers(), clientId: 'sluice-test', ...options })
}
