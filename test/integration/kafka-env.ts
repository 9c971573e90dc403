/**
 * Where the integration tests find Kafka: SLUICE_KAFKA_BROKERS (comma-separated host:port), as
 * exported by scripts/test-integration.sh after scripts/servers/kafka.sh started the broker.
 */
import { randomUUID } from 'node:crypto'
import { type Admin, AssignerProtocol, Kafka, logLevel } from 'kafkajs'
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

/** A connected kafkajs admin on the test broker, for what the Log interface has no call for (describing groups). */
export async function connectKafkaAdmin(): Promise<Admin> {
  const admin = new Kafka({
    clientId: 'sluice-test-admin',
    brokers: kafkaBrokers(),
    logLevel: logLevel.NOTHING,
  }).admin()
  await admin.connect()
  return admin
}

/**
 * The members of `group` and their assignments as the broker holds them (topic → sorted
 * partitions), once the group is stable; [] while it rebalances or does not exist.
 */
export async function stableGroupAssignment(
  admin: Admin,
  group: string,
): Promise<Record<string, number[]>[]> {
  const { groups } = await admin.describeGroups([group])
  const described = groups[0]
  if (described === undefined || described.state !== 'Stable') return []
  return described.members.map((m) => {
    const assignment = AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment ?? {}
    return Object.fromEntries(
      Object.entries(assignment).map(([topic, partitions]) => [topic, [...partitions].sort()]),
    )
  })
}

/** The broker's SASL and TLS listeners, as `scripts/servers/kafka.sh env` prints them. */
export interface SecureListeners {
  /** SASL_PLAINTEXT listener, host:port. */
  readonly sasl: string
  /** SSL listener (mutual TLS), host:port. */
  readonly tls: string
  /** ca.pem, client.pem, client.key and untrusted-ca.pem. */
  readonly tlsDir: string
}

export function secureListeners(): SecureListeners {
  const sasl = process.env.SLUICE_KAFKA_SASL_BROKERS
  const tls = process.env.SLUICE_KAFKA_TLS_BROKERS
  const tlsDir = process.env.SLUICE_KAFKA_TLS_DIR
  if (!sasl || !tls || !tlsDir) {
    throw new Error(
      'SLUICE_KAFKA_SASL_BROKERS, SLUICE_KAFKA_TLS_BROKERS and SLUICE_KAFKA_TLS_DIR are not set: run the ' +
        'tests with scripts/test-integration.sh, or export `bash scripts/servers/kafka.sh env` (a broker ' +
        'started by an older kafka.sh has no SASL or TLS listener: stop it and start it again)',
    )
  }
  return { sasl, tls, tlsDir }
}

/** The SASL users scripts/servers/kafka.sh creates (a development broker: not secrets). */
export const TEST_SASL_USERS = {
  plain: { user: 'sluice-plain', password: 'plain-secret' },
  'scram-sha-256': { user: 'sluice-scram256', password: 'scram256-secret' },
  'scram-sha-512': { user: 'sluice-scram512', password: 'scram512-secret' },
} as const
