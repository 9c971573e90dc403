import path from 'node:path'
import { SluiceError } from '../../errors.ts'
import { writeFileAtomic } from './atomic-file.ts'
import { readTextIfExists } from './io-errors.ts'

/**
 * Offset ranges of a partition that hold no records on purpose: `<partitionDir>/gaps.json`,
 *
 *   { "version": 1, "gaps": [{ "from": 5, "to": 9, "reason": "...", "time": "<ISO 8601>" }] }
 *
 * A gap [from, to) is written when recovery or repair retires offsets that may have been handed
 * out (damaged records that were cut or quarantined, offsets a consumer group already committed
 * past), so that they are never given to new records. Gaps only ever lie between segments: the
 * segment before one ends at `from`, the next starts at or after `to`. Verification accepts a
 * boundary whose missing offsets are all recorded here and rejects an unexplained one; readers
 * step over gaps. The file is replaced atomically and synced before the segment that continues
 * past the gap is created, so a crash can never leave the offsets reusable.
 */
export interface OffsetGap {
  readonly from: number
  readonly to: number
  readonly reason: string
  readonly time: string
}

export const GAPS_FILE = 'gaps.json'

export class OffsetGaps {
  private constructor(
    readonly file: string,
    private list: OffsetGap[],
  ) {}

  /** Loads the partition's gaps (none when the file does not exist); LOG_CORRUPT_SEGMENT if damaged. */
  static async load(partitionDir: string): Promise<OffsetGaps> {
    const file = path.join(partitionDir, GAPS_FILE)
    const text = await readTextIfExists(file)
    return new OffsetGaps(file, text === null ? [] : parseGaps(text, file))
  }

  static empty(partitionDir: string): OffsetGaps {
    return new OffsetGaps(path.join(partitionDir, GAPS_FILE), [])
  }

  get all(): readonly OffsetGap[] {
    return this.list
  }

  /** Whether every offset in [from, to) lies in a recorded gap. */
  covers(from: number, to: number): boolean {
    let at = from
    for (const gap of this.list) {
      if (gap.from <= at && gap.to > at) at = gap.to
      if (at >= to) return true
    }
    return at >= to
  }

  /** The first offset ≥ `offset` outside every gap. */
  skip(offset: number): number {
    let at = offset
    for (const gap of this.list) if (gap.from <= at && gap.to > at) at = gap.to
    return at
  }

  /** Records [from, to) durably (merged with overlapping or adjacent gaps). No-op when already covered. */
  async record(from: number, to: number, reason: string, fsync: boolean): Promise<void> {
    if (to <= from || this.covers(from, to)) return
    const next = mergeGaps([...this.list, { from, to, reason, time: new Date().toISOString() }])
    await writeFileAtomic(this.file, `${JSON.stringify({ version: 1, gaps: next }, null, 1)}\n`, fsync)
    this.list = next
  }

  /** Re-reads the file (read-only readers: the owning process may have recorded a gap since). */
  async reload(): Promise<void> {
    const fresh = await OffsetGaps.load(path.dirname(this.file))
    this.list = fresh.list
  }
}

function parseGaps(text: string, file: string): OffsetGap[] {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    throw new SluiceError(
      'LOG_CORRUPT_SEGMENT',
      `offset gaps file ${file} is damaged: ${(error as Error).message}`,
      {
        cause: error,
      },
    )
  }
  const gaps = (parsed as { gaps?: unknown } | null)?.gaps
  if (!Array.isArray(gaps)) {
    throw new SluiceError('LOG_CORRUPT_SEGMENT', `offset gaps file ${file} has no "gaps" list`)
  }
  const list: OffsetGap[] = []
  for (const gap of gaps) {
    const { from, to, reason, time } = (gap ?? {}) as Record<string, unknown>
    if (
      !Number.isSafeInteger(from) ||
      !Number.isSafeInteger(to) ||
      (from as number) < 0 ||
      (to as number) <= (from as number)
    ) {
      throw new SluiceError(
        'LOG_CORRUPT_SEGMENT',
        `offset gaps file ${file} has a bad entry ${JSON.stringify(gap)}`,
      )
    }
    list.push({
      from: from as number,
      to: to as number,
      reason: typeof reason === 'string' ? reason : '',
      time: typeof time === 'string' ? time : '',
    })
  }
  return mergeGaps(list)
}

function mergeGaps(gaps: OffsetGap[]): OffsetGap[] {
  const sorted = [...gaps].sort((a, b) => a.from - b.from)
  const out: OffsetGap[] = []
  for (const gap of sorted) {
    const last = out.at(-1)
    if (last !== undefined && gap.from <= last.to) {
      out[out.length - 1] = {
        ...last,
        to: Math.max(last.to, gap.to),
        reason: last.reason === gap.reason ? last.reason : `${last.reason}; ${gap.reason}`,
      }
    } else out.push(gap)
  }
  return out
}
