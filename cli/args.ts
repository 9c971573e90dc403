/**
 * Argument parsing shared by the commands: node:util parseArgs in strict mode, so an unknown
 * option is an error naming it, plus the options every log-using command takes.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util'

export class UsageError extends Error {
  override name = 'UsageError'
}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>

export const LOG_OPTIONS = {
  'data-dir': { type: 'string' },
  kafka: { type: 'string' },
} as const satisfies OptionSpec

export const LOG_OPTIONS_HELP = `  --data-dir DIR        embedded mode: the data directory (default: $SLUICE_DATA_DIR or .sluice)
  --kafka BROKERS       distributed mode: Apache Kafka bootstrap brokers, comma-separated (or $SLUICE_KAFKA_BROKERS)`

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
