/**
 * Argument parsing shared by the commands: node:util parseArgs in strict mode, so an unknown
 * option is an error naming it, plus the options every log-using command takes.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util'
import {
  createLogger,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type Logger,
  type LogLevel,
} from '../runtime/observability/logger.ts'
import type { CommandIO } from './command.ts'

export class UsageError extends Error {
  override name = 'UsageError'
}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>

/**
 * The options of every command that opens a log: which log, how to reach and log in to Kafka, and
 * how the command logs. Each Kafka option can also come from the environment variable in its help.
 */
export const LOG_OPTIONS = {
  'data-dir': { type: 'string' },
  durability: { type: 'string' },
  kafka: { type: 'string' },
  'kafka-client-id': { type: 'string' },
  'kafka-tls': { type: 'boolean' },
  'kafka-ca': { type: 'string' },
  'kafka-cert': { type: 'string' },
  'kafka-key': { type: 'string' },
  'kafka-tls-insecure': { type: 'boolean' },
  'kafka-sasl': { type: 'string' },
  'kafka-user': { type: 'string' },
  'kafka-password-file': { type: 'string' },
  'kafka-parallel': { type: 'string' },
  'kafka-compression': { type: 'string' },
  'kafka-unknown-topic-wait': { type: 'string' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
} as const satisfies OptionSpec

export const LOG_OPTIONS_HELP = `  --data-dir DIR        embedded mode: the data directory (default: $SLUICE_DATA_DIR or .sluice)
  --durability POLICY   embedded mode, when writes are synced to disk (or $SLUICE_DURABILITY):
                        100ms (default; any N ms or N s): every 100 ms, a process crash loses
                        nothing acknowledged, a machine crash at most the last 100 ms;
                        batch: before each append or commit resolves, nothing acknowledged is lost;
                        none: only on exit
  --kafka BROKERS       distributed mode: Apache Kafka bootstrap brokers, comma-separated (or $SLUICE_KAFKA_BROKERS)
  --kafka-client-id ID  client id the brokers see, for their logs and quotas
                        (or $SLUICE_KAFKA_CLIENT_ID; default: sluice.<artifact> for run, else sluice-<command>)
  --kafka-tls           connect with TLS, verifying the brokers against the system CAs ($SLUICE_KAFKA_TLS=1)
  --kafka-ca FILE       PEM CA certificate(s) to verify the brokers with instead; implies --kafka-tls ($SLUICE_KAFKA_CA)
  --kafka-cert FILE     PEM client certificate for mutual TLS, with --kafka-key ($SLUICE_KAFKA_CERT)
  --kafka-key FILE      PEM private key of --kafka-cert ($SLUICE_KAFKA_KEY)
  --kafka-tls-insecure  INSECURE, for testing only: TLS without checking the brokers' certificates
                        ($SLUICE_KAFKA_TLS_INSECURE=1)
  --kafka-sasl MECH     SASL login: plain | scram-sha-256 | scram-sha-512 ($SLUICE_KAFKA_SASL)
  --kafka-user NAME     SASL user name ($SLUICE_KAFKA_USER)
  --kafka-password-file FILE
                        SASL password: the file's first line ($SLUICE_KAFKA_PASSWORD_FILE); or set
                        $SLUICE_KAFKA_PASSWORD. Never an argument: the process list shows arguments
  --kafka-parallel N    partitions whose batches a node processes at once (or $SLUICE_KAFKA_PARALLEL;
                        default 4): one partition's batch is processed while another's waits for Kafka
  --kafka-compression C none | gzip: compression of the record batches written (or
                        $SLUICE_KAFKA_COMPRESSION; default none, the least CPU)
  --kafka-unknown-topic-wait MS
                        how long writes, reads and subscriptions wait for a topic the brokers do
                        not know yet (just created, metadata still spreading) before it counts as
                        missing (or $SLUICE_KAFKA_UNKNOWN_TOPIC_WAIT; default 3000; 0: no wait)
  --log-level LEVEL     debug | info | warn | error (or $SLUICE_LOG_LEVEL; default: info)
  --log-format FORMAT   json (one object per line) | text (or $SLUICE_LOG_FORMAT; default: text
                        when stderr is a terminal, else json)`

export function parse<O extends OptionSpec>(argv: readonly string[], options: O) {
  try {
    return parseArgs({
      args: [...argv],
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    })
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error))
  }
}

export function integerOption(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 0)
    throw new UsageError(`--${name} must be a non-negative integer, got "${value}"`)
  return n
}

/**
 * A boolean from a flag or, when the flag is absent, an environment variable ('1'/'true'/'yes' or
 * '0'/'false'/'no'/''); anything else is a usage error naming the variable.
 */
export function booleanOption(flag: boolean | undefined, envName: string, env = process.env): boolean {
  if (flag !== undefined) return flag
  const raw = env[envName]
  if (raw === undefined) return false
  const value = raw.trim().toLowerCase()
  if (['1', 'true', 'yes'].includes(value)) return true
  if (['', '0', 'false', 'no'].includes(value)) return false
  throw new UsageError(`$${envName} must be 1 or 0 (true or false), got "${raw}"`)
}

/** A string option's flag or else its environment variable (an empty variable counts as unset). */
export function stringOption(
  flag: string | undefined,
  envName: string,
  env = process.env,
): string | undefined {
  if (flag !== undefined) return flag
  const value = env[envName]
  return value === '' ? undefined : value
}

/**
 * What processIO adds to CommandIO: whether stderr is a terminal (whatever NO_COLOR says). An IO
 * without it (a test's captured output) is not a terminal.
 */
export interface TerminalAwareIO extends CommandIO {
  readonly stderrIsTerminal: boolean
}

function stderrIsTerminal(io: CommandIO): boolean {
  return (io as Partial<TerminalAwareIO>).stderrIsTerminal === true
}

export interface LoggingChoice {
  readonly level: LogLevel
  readonly format: LogFormat
}

/** --log-level and --log-format (or their environment variables), validated. */
export function loggingOptions(
  values: { readonly 'log-level'?: string | undefined; readonly 'log-format'?: string | undefined },
  io: CommandIO,
  env = process.env,
): LoggingChoice {
  const level = stringOption(values['log-level'], 'SLUICE_LOG_LEVEL', env) ?? 'info'
  if (!(LOG_LEVELS as readonly string[]).includes(level))
    throw new UsageError(`unknown log level "${level}" (expected ${LOG_LEVELS.join(', ')})`)
  return { level: level as LogLevel, format: logFormat(values['log-format'], io, env) }
}

/**
 * The log format: the flag, else $SLUICE_LOG_FORMAT, else text for a person at a terminal and JSON
 * for everything else (a log collector, a CI log, a file).
 */
export function logFormat(flag: string | undefined, io: CommandIO, env = process.env): LogFormat {
  const format = stringOption(flag, 'SLUICE_LOG_FORMAT', env) ?? (stderrIsTerminal(io) ? 'text' : 'json')
  if (!(LOG_FORMATS as readonly string[]).includes(format))
    throw new UsageError(`unknown log format "${format}" (expected ${LOG_FORMATS.join(' or ')})`)
  return format as LogFormat
}

/** The logger of a command: its chosen level and format, on the command's stderr. */
export function commandLogger(choice: LoggingChoice, io: CommandIO): Logger {
  return createLogger({ level: choice.level, format: choice.format, write: io.stderr })
}

/**
 * The --log-format a command line asks for, read before the command parses its arguments, so that
 * main can write even a usage error in that format. Undefined when absent.
 */
export function logFormatInArgv(argv: readonly string[]): string | undefined {
  let found: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--') break
    if (arg === '--log-format') found = argv[i + 1]
    else if (arg.startsWith('--log-format=')) found = arg.slice('--log-format='.length)
  }
  return found
}
