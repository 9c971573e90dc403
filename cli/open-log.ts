/**
 * Which log a command works on and how it reaches it: the embedded log in a data directory, or
 * Kafka with the connection options of args.ts LOG_OPTIONS (client id, TLS, SASL), each from its
 * flag or else its environment variable. Everything is checked before connecting, so a typo is a
 * usage error naming the option instead of a timeout or a handshake failure.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import {
  COMMAND_DEFAULT_DURABILITY,
  type Durability,
  formatDurability,
  parseDurability,
} from '../runtime/log/embedded/durability.ts'
import { EmbeddedLog } from '../runtime/log/embedded.ts'
import type { Log } from '../runtime/log/index.ts'
// Types only: kafkajs is loaded when --kafka asks for it, not by every command that opens a log.
import type {
  KafkaClientLogEntry,
  KafkaLogOptions,
  KafkaSaslMechanism,
  KafkaTlsOptions,
} from '../runtime/log/kafka.ts'
import type { Logger, LogLevel } from '../runtime/observability/logger.ts'
import { booleanOption, stringOption, UsageError } from './args.ts'

export interface LogSelection {
  readonly 'data-dir'?: string | undefined
  readonly durability?: string | undefined
  readonly kafka?: string | undefined
  readonly 'kafka-client-id'?: string | undefined
  readonly 'kafka-tls'?: boolean | undefined
  readonly 'kafka-ca'?: string | undefined
  readonly 'kafka-cert'?: string | undefined
  readonly 'kafka-key'?: string | undefined
  readonly 'kafka-tls-insecure'?: boolean | undefined
  readonly 'kafka-sasl'?: string | undefined
  readonly 'kafka-user'?: string | undefined
  readonly 'kafka-password-file'?: string | undefined
  readonly 'kafka-parallel'?: string | undefined
  readonly 'kafka-compression'?: string | undefined
  readonly 'kafka-unknown-topic-wait'?: string | undefined
}

export interface OpenLogMode {
  /** Open the embedded log without taking its lock (readers beside a running node). */
  readonly readOnly?: boolean
  /** Receives the log client's own messages (kafkajs's), at `logLevel` and above. */
  readonly logger?: Logger
  /** Default: 'info'. */
  readonly logLevel?: LogLevel
  /** Client id when neither --kafka-client-id nor $SLUICE_KAFKA_CLIENT_ID gives one. Default: 'sluice'. */
  readonly clientId?: string
  /** Embedded, read-only: step over damaged records (each reported to `logger`) instead of failing. */
  readonly skipCorrupt?: boolean
  /** Consumer-group timing of a command that consumes in a group (`run`). */
  readonly consumer?: Pick<
    KafkaLogOptions,
    'sessionTimeoutMs' | 'heartbeatIntervalMs' | 'instanceId' | 'commitIntervalMs'
  >
}

/** The Kafka-only options, for the usage error when they come without Kafka. */
const KAFKA_ONLY_OPTIONS = [
  'kafka-client-id',
  'kafka-tls',
  'kafka-ca',
  'kafka-cert',
  'kafka-key',
  'kafka-tls-insecure',
  'kafka-sasl',
  'kafka-user',
  'kafka-password-file',
  'kafka-parallel',
  'kafka-compression',
  'kafka-unknown-topic-wait',
] as const

const SASL_MECHANISMS: readonly KafkaSaslMechanism[] = ['plain', 'scram-sha-256', 'scram-sha-512']

/** The log a command works on: Kafka when brokers are given, else the embedded log in the data dir. */
export async function openLog(
  options: LogSelection,
  mode: OpenLogMode = {},
): Promise<{ log: Log; describe: string }> {
  if (options.kafka !== undefined && options.kafka.trim() === '')
    throw new UsageError('--kafka names no broker')
  const brokers = options.kafka ?? process.env.SLUICE_KAFKA_BROKERS
  if (brokers && options['data-dir']) throw new UsageError('give either --kafka or --data-dir, not both')
  if (brokers) {
    const list = brokers
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean)
    if (list.length === 0) throw new UsageError(`no Kafka broker in "${brokers}"`)
    if (options.durability !== undefined)
      throw new UsageError(
        '--durability is for the embedded log; Kafka makes writes durable by replication (acks=all)',
      )
    const connection = await kafkaConnection(options, mode.clientId ?? 'sluice')
    const logger = mode.logger
    if (logger && connection.sasl?.mechanism === 'plain' && !connection.tls) {
      logger.warn('SASL PLAIN without TLS sends the password to the brokers in clear text', {
        brokers: list.join(','),
      })
    }
    const { KafkaLog } = await import('../runtime/log/kafka.ts')
    const log = await KafkaLog.connect({
      brokers: list,
      ...connection,
      ...kafkaThroughput(options),
      ...kafkaTopicSettling(options),
      ...mode.consumer,
      ...(logger ? { logger: kafkaClientLogSink(logger), logLevel: mode.logLevel ?? 'info' } : {}),
    })
    return { log, describe: `Kafka at ${list.join(',')}${describeSecurity(connection)}` }
  }
  const given = KAFKA_ONLY_OPTIONS.find((name) => options[name] !== undefined)
  if (given) throw new UsageError(`--${given} needs --kafka BROKERS (or $SLUICE_KAFKA_BROKERS)`)
  const dir = options['data-dir'] ?? process.env.SLUICE_DATA_DIR ?? '.sluice'
  // The logger shows what recovery found (cut, quarantined, skipped) as warnings.
  const embedded = mode.logger ? { logger: mode.logger } : {}
  if (mode.readOnly) {
    if (options.durability !== undefined)
      throw new UsageError('--durability is for commands that write to the log; this one only reads')
    const log = await EmbeddedLog.openReadOnly(dir, { ...embedded, skipCorrupt: mode.skipCorrupt === true })
    return { log, describe: `embedded log in ${dir}` }
  }
  const durability = durabilityOption(options.durability)
  const log = await EmbeddedLog.open(dir, { ...embedded, durability })
  return { log, describe: `embedded log in ${dir} (durability ${formatDurability(durability)})` }
}

/** The embedded log's durability policy from --durability, else $SLUICE_DURABILITY, else the commands' default. */
function durabilityOption(flag: string | undefined): Durability {
  const text = flag ?? process.env.SLUICE_DURABILITY
  if (text === undefined || text === '') return COMMAND_DEFAULT_DURABILITY
  try {
    return parseDurability(text)
  } catch (error) {
    throw new UsageError(
      `${flag !== undefined ? '--durability' : '$SLUICE_DURABILITY'}: ${(error as Error).message}`,
    )
  }
}

/** kafkajs's lines through a Sluice logger, marked as coming from the Kafka client. */
export function kafkaClientLogSink(logger: Logger): (entry: KafkaClientLogEntry) => void {
  return (entry) =>
    logger[entry.level](entry.message, { component: 'kafkajs', namespace: entry.namespace, ...entry.fields })
}

/** --kafka-parallel and --kafka-compression, else their environment variables. */
export function kafkaThroughput(
  options: LogSelection,
  env: NodeJS.ProcessEnv = process.env,
): Pick<KafkaLogOptions, 'partitionsInParallel' | 'compression'> {
  const source = (name: 'kafka-parallel' | 'kafka-compression', envName: string) =>
    options[name] !== undefined ? `--${name}` : `$${envName}`
  const parallel = stringOption(options['kafka-parallel'], 'SLUICE_KAFKA_PARALLEL', env)
  const compression = stringOption(options['kafka-compression'], 'SLUICE_KAFKA_COMPRESSION', env)
  if (parallel !== undefined && !/^[1-9][0-9]{0,3}$/.test(parallel)) {
    throw new UsageError(
      `${source('kafka-parallel', 'SLUICE_KAFKA_PARALLEL')} "${parallel}": a number of partitions from 1 to 9999`,
    )
  }
  if (compression !== undefined && compression !== 'none' && compression !== 'gzip') {
    throw new UsageError(
      `${source('kafka-compression', 'SLUICE_KAFKA_COMPRESSION')} "${compression}": none or gzip`,
    )
  }
  return {
    ...(parallel === undefined ? {} : { partitionsInParallel: Number(parallel) }),
    ...(compression === undefined ? {} : { compression }),
  }
}

/**
 * --kafka-unknown-topic-wait, else $SLUICE_KAFKA_UNKNOWN_TOPIC_WAIT: how long appends, reads and
 * subscriptions wait for a topic the brokers do not know yet (runtime/log/kafka-topic-settling.ts).
 */
export function kafkaTopicSettling(
  options: LogSelection,
  env: NodeJS.ProcessEnv = process.env,
): Pick<KafkaLogOptions, 'unknownTopicWaitMs'> {
  const wait = stringOption(options['kafka-unknown-topic-wait'], 'SLUICE_KAFKA_UNKNOWN_TOPIC_WAIT', env)
  if (wait === undefined) return {}
  // Whole milliseconds, 0 included (no waiting: an unknown topic fails at once); at most an hour,
  // so a unit slip (seconds read as ms, a stray digit) is caught instead of hanging a node.
  if (!/^[0-9]{1,7}$/.test(wait) || Number(wait) > MAX_UNKNOWN_TOPIC_WAIT_MS) {
    const source =
      options['kafka-unknown-topic-wait'] !== undefined
        ? '--kafka-unknown-topic-wait'
        : '$SLUICE_KAFKA_UNKNOWN_TOPIC_WAIT'
    throw new UsageError(
      `${source} "${wait}": a whole number of milliseconds from 0 to ${MAX_UNKNOWN_TOPIC_WAIT_MS}`,
    )
  }
  return { unknownTopicWaitMs: Number(wait) }
}

const MAX_UNKNOWN_TOPIC_WAIT_MS = 3_600_000

export type KafkaConnection = Pick<KafkaLogOptions, 'clientId' | 'tls' | 'sasl'>

/**
 * Client id, TLS and SASL from the flags or else the environment, with every file read and
 * checked (a CA that is not a certificate, a key that does not belong to the certificate, a
 * missing password): each problem is a UsageError naming the flag or variable it came from.
 */
export async function kafkaConnection(
  options: LogSelection,
  defaultClientId: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<KafkaConnection> {
  const opt = (
    name:
      | 'kafka-client-id'
      | 'kafka-ca'
      | 'kafka-cert'
      | 'kafka-key'
      | 'kafka-sasl'
      | 'kafka-user'
      | 'kafka-password-file',
    envName: string,
  ) => {
    const value = stringOption(options[name], envName, env)
    return value === undefined
      ? undefined
      : { value, source: options[name] !== undefined ? `--${name}` : `$${envName}` }
  }
  const explicitId = opt('kafka-client-id', 'SLUICE_KAFKA_CLIENT_ID')
  if (explicitId && !CLIENT_ID.test(explicitId.value)) {
    throw new UsageError(
      `${explicitId.source} "${explicitId.value}": a client id is 1 to 255 letters, digits, '.', '_' or '-'`,
    )
  }
  const clientId = explicitId?.value ?? sanitizeClientId(defaultClientId)
  return {
    clientId,
    ...(await tlsOptions(options, opt, env)),
    ...(await saslOptions(opt, env)),
  }
}

/** Kafka's quotas and metrics (JMX names) key on the client id: plain characters only. */
const CLIENT_ID = /^[A-Za-z0-9._-]{1,255}$/

function sanitizeClientId(id: string): string {
  const clean = id.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 255)
  return clean === '' ? 'sluice' : clean
}

type Opt = (
  name: 'kafka-ca' | 'kafka-cert' | 'kafka-key' | 'kafka-sasl' | 'kafka-user' | 'kafka-password-file',
  envName: string,
) => { value: string; source: string } | undefined

async function tlsOptions(
  options: LogSelection,
  opt: Opt,
  env: NodeJS.ProcessEnv,
): Promise<{ tls?: KafkaTlsOptions | boolean }> {
  const enabled = booleanOption(options['kafka-tls'], 'SLUICE_KAFKA_TLS', env)
  const insecure = booleanOption(options['kafka-tls-insecure'], 'SLUICE_KAFKA_TLS_INSECURE', env)
  const ca = opt('kafka-ca', 'SLUICE_KAFKA_CA')
  const cert = opt('kafka-cert', 'SLUICE_KAFKA_CERT')
  const key = opt('kafka-key', 'SLUICE_KAFKA_KEY')
  if (!enabled && !insecure && !ca && !cert && !key) return {}
  if ((cert === undefined) !== (key === undefined)) {
    const [given, missing] = cert ? [cert.source, 'a --kafka-key'] : [key!.source, 'a --kafka-cert']
    throw new UsageError(`${given} needs ${missing} too: a client certificate goes with its private key`)
  }
  if (insecure && ca) {
    throw new UsageError(
      `--kafka-tls-insecure turns off the check that ${ca.source} is for: give one of them, not both`,
    )
  }
  const tls: { -readonly [K in keyof KafkaTlsOptions]: KafkaTlsOptions[K] } = {}
  if (ca) {
    const pem = await readOptionFile(ca)
    certificates(pem, ca)
    tls.ca = pem
  }
  if (cert && key) {
    const certPem = await readOptionFile(cert)
    const keyPem = await readOptionFile(key)
    const [leaf] = certificates(certPem, cert)
    const privateKey = parsePrivateKey(keyPem, key)
    if (!leaf!.checkPrivateKey(privateKey)) {
      throw new UsageError(
        `${key.source} ${key.value} is not the private key of ${cert.source} ${cert.value}`,
      )
    }
    tls.cert = certPem
    tls.key = keyPem
  }
  if (insecure) tls.insecure = true
  return { tls: Object.keys(tls).length === 0 ? true : tls }
}

async function saslOptions(opt: Opt, env: NodeJS.ProcessEnv): Promise<{ sasl?: KafkaLogOptions['sasl'] }> {
  const mechanism = opt('kafka-sasl', 'SLUICE_KAFKA_SASL')
  const user = opt('kafka-user', 'SLUICE_KAFKA_USER')
  const passwordFile = opt('kafka-password-file', 'SLUICE_KAFKA_PASSWORD_FILE')
  const envPassword = env.SLUICE_KAFKA_PASSWORD
  if (!mechanism) {
    const stray = user?.source ?? passwordFile?.source ?? (envPassword ? '$SLUICE_KAFKA_PASSWORD' : undefined)
    if (stray) {
      throw new UsageError(`${stray} is for a SASL login: give --kafka-sasl ${SASL_MECHANISMS.join('|')} too`)
    }
    return {}
  }
  const name = mechanism.value.toLowerCase() as KafkaSaslMechanism
  if (!SASL_MECHANISMS.includes(name)) {
    throw new UsageError(
      `${mechanism.source} "${mechanism.value}": unknown SASL mechanism (expected ${SASL_MECHANISMS.join(', ')})`,
    )
  }
  if (!user)
    throw new UsageError(`${mechanism.source} ${name} needs a user: --kafka-user NAME or $SLUICE_KAFKA_USER`)
  let password: string
  if (passwordFile) {
    // The first line: a file written with `echo secret > file` ends in a newline that is no part of it.
    password = (await readOptionFile(passwordFile)).split(/\r?\n/, 1)[0]!
    if (password === '')
      throw new UsageError(`${passwordFile.source} ${passwordFile.value}: the first line is empty`)
  } else if (envPassword) {
    password = envPassword
  } else {
    throw new UsageError(
      `${mechanism.source} ${name} needs a password: --kafka-password-file FILE, $SLUICE_KAFKA_PASSWORD_FILE or $SLUICE_KAFKA_PASSWORD (never an argument: the process list shows arguments)`,
    )
  }
  return { sasl: { mechanism: name, username: user.value, password } }
}

async function readOptionFile(option: { value: string; source: string }): Promise<string> {
  try {
    return await readFile(option.value, 'utf8')
  } catch (error) {
    throw new UsageError(
      `cannot read ${option.source} ${option.value}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    )
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

/** The PEM certificates in a file, parsed; none, or one Node cannot parse, is a usage error. */
function certificates(pem: string, option: { value: string; source: string }): X509Certificate[] {
  const blocks = pem.match(PEM_CERTIFICATE) ?? []
  if (blocks.length === 0) {
    throw new UsageError(
      `${option.source} ${option.value} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
    )
  }
  return blocks.map((block) => {
    try {
      return new X509Certificate(block)
    } catch (error) {
      throw new UsageError(
        `${option.source} ${option.value}: not a valid certificate (${(error as Error).message})`,
      )
    }
  })
}

function parsePrivateKey(pem: string, option: { value: string; source: string }): KeyObject {
  try {
    return createPrivateKey(pem)
  } catch (error) {
    const reason = /passphrase/i.test((error as Error).message)
      ? 'the key is encrypted; give it unencrypted (openssl pkey -in KEY -out PLAIN_KEY) and protect the file instead'
      : `not a PEM private key (${(error as Error).message})`
    throw new UsageError(`${option.source} ${option.value}: ${reason}`)
  }
}

function describeSecurity(connection: KafkaConnection): string {
  const parts: string[] = []
  if (connection.tls)
    parts.push(typeof connection.tls === 'object' && connection.tls.insecure ? 'TLS, unverified' : 'TLS')
  if (connection.sasl)
    parts.push(`SASL ${connection.sasl.mechanism.toUpperCase()} as ${connection.sasl.username}`)
  return parts.length > 0 ? ` (${parts.join(', ')})` : ''
}
