import { SluiceError } from '../../errors.ts'

/**
 * When the embedded log makes appends and offset commits durable (fdatasync), per data directory
 * (an option of EmbeddedLog.open). The guarantee of each policy
 * (docs/decisions/0014-embedded-durability-policy.md):
 *
 * - 'batch' (EmbeddedLog.open's default): an append resolves once its records are on disk, a
 *   commit once its offsets are.
 *   Concurrent appends and commits share one sync round (group commit). A machine crash loses
 *   nothing acknowledged.
 * - { intervalMs: N }: appends resolve once written to the OS (the page
 *   cache), commits once recorded; every N ms one round syncs the data written since the last
 *   round and then writes the offsets file, so offsets on disk never run ahead of the data they
 *   follow. A process crash (kill -9, an exception) loses no acknowledged record: the page cache
 *   survives it; it may lose the commits of the last N ms, whose records are delivered again
 *   (at-least-once). A machine crash (power, kernel) can also lose the records acknowledged in
 *   the last N ms plus the length of one sync.
 * - 'none': nothing is synced until close(); commits are written (not synced) one by one. A
 *   process crash loses nothing acknowledged; a machine crash can lose any of it.
 *
 * Records are visible to readers once written: with the interval policy and 'none', a reader can
 * see a record that a machine crash takes back.
 */
export type Durability = 'batch' | 'none' | { readonly intervalMs: number }

/** EmbeddedLog.open's default: the strongest guarantee for code that embeds the log. */
export const DEFAULT_DURABILITY: Durability = 'batch'

/**
 * The default of the commands that run on the embedded log (`sluice run`, `sluice produce`,
 * `--durability`): one sync round per 100 ms instead of two syncs per batch, losing nothing
 * acknowledged to a process crash and at most the last 100 ms to a machine crash.
 */
export const COMMAND_DEFAULT_DURABILITY: Durability = { intervalMs: 100 }

/** The interval policy's bounds: below 1 ms it is 'batch' in disguise, above 60 s a surprise. */
const MIN_INTERVAL_MS = 1
const MAX_INTERVAL_MS = 60_000

/** The policy a flag value names: `batch`, `none`, or an interval such as `100ms` / `2s`. */
export function parseDurability(text: string): Durability {
  const trimmed = text.trim().toLowerCase()
  if (trimmed === 'batch' || trimmed === 'none') return trimmed
  const match = /^(\d+)\s*(ms|s)$/.exec(trimmed)
  if (match === null) {
    throw new SluiceError(
      'LOG_INVALID_ARGUMENT',
      `durability "${text}": expected batch, none or an interval such as 100ms or 1s`,
    )
  }
  return checkDurability({ intervalMs: Number(match[1]) * (match[2] === 's' ? 1000 : 1) })
}

/** How a policy is written on the command line (parseDurability reversed). */
export function formatDurability(durability: Durability): string {
  return typeof durability === 'string' ? durability : `${durability.intervalMs}ms`
}

/** Validates a policy given in code; the `fsync` option of earlier versions maps onto it. */
export function resolveDurability(durability: unknown, fsync: unknown): Durability {
  if (durability !== undefined && fsync !== undefined) {
    throw new SluiceError(
      'LOG_INVALID_ARGUMENT',
      'give durability or fsync, not both (fsync is its old name)',
    )
  }
  if (fsync !== undefined) {
    if (fsync === 'always') return 'batch'
    if (fsync === 'never') return 'none'
    throw new SluiceError('LOG_INVALID_ARGUMENT', `fsync must be 'always' or 'never', got ${String(fsync)}`)
  }
  return checkDurability(durability ?? DEFAULT_DURABILITY)
}

function checkDurability(durability: unknown): Durability {
  if (durability === 'batch' || durability === 'none') return durability
  const intervalMs = (durability as { intervalMs?: unknown } | null)?.intervalMs
  if (
    typeof intervalMs === 'number' &&
    Number.isSafeInteger(intervalMs) &&
    intervalMs >= MIN_INTERVAL_MS &&
    intervalMs <= MAX_INTERVAL_MS
  ) {
    return { intervalMs }
  }
  throw new SluiceError(
    'LOG_INVALID_ARGUMENT',
    `durability must be 'batch', 'none' or { intervalMs: ${MIN_INTERVAL_MS}..${MAX_INTERVAL_MS} }, got ${JSON.stringify(durability)}`,
  )
}
