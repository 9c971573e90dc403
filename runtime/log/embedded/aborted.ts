import path from 'node:path'
import { SluiceError } from '../../errors.ts'
import { writeFileAtomic } from './atomic-file.ts'
import { readTextIfExists } from './io-errors.ts'

/**
 * Offset ranges of a partition whose records belong to aborted transactions:
 * `<partitionDir>/aborted.json`,
 *
 *   { "version": 1, "aborted": [{ "from": 5, "to": 9 }] }
 *
 * Unlike a gap (gaps.ts), an aborted range holds records, anywhere in a segment: readers step over
 * them (they are gaps to the Log contract), verification still checks their frames. A range is
 * recorded here before the transaction file that listed it as open is rewritten (transactions.ts),
 * so a crash in between only aborts it a second time. Ranges are kept sorted and merged; lookups
 * are binary searches, so a partition with many aborted epochs reads as fast as one with few.
 */
export interface OffsetRange {
  readonly from: number
  readonly to: number
}

export const ABORTED_FILE = 'aborted.json'

export class AbortedRanges {
  private constructor(
    readonly file: string,
    private list: OffsetRange[],
  ) {}

  /** The partition's aborted ranges (none when the file does not exist); LOG_CORRUPT_SEGMENT if damaged. */
  static async load(partitionDir: string): Promise<AbortedRanges> {
    const file = path.join(partitionDir, ABORTED_FILE)
    const text = await readTextIfExists(file)
    return new AbortedRanges(file, text === null ? [] : parseAborted(text, file))
  }

  /** Lookups over `ranges` (not tied to a file that is read or written). */
  static of(ranges: readonly OffsetRange[]): AbortedRanges {
    return new AbortedRanges('', mergeRanges(ranges))
  }

  static empty(partitionDir: string): AbortedRanges {
    return new AbortedRanges(path.join(partitionDir, ABORTED_FILE), [])
  }

  get all(): readonly OffsetRange[] {
    return this.list
  }

  get isEmpty(): boolean {
    return this.list.length === 0
  }

  /** The first offset ≥ `offset` outside every aborted range. */
  skip(offset: number): number {
    const i = this.firstEndingAfter(offset)
    const range = this.list[i]
    return range !== undefined && range.from <= offset ? range.to : offset
  }

  /** Where the first aborted range starting after `offset` begins (Infinity: none). */
  nextStart(offset: number): number {
    const i = this.firstEndingAfter(offset)
    const range = this.list[i]
    if (range === undefined) return Number.POSITIVE_INFINITY
    if (range.from > offset) return range.from
    return this.list[i + 1]?.from ?? Number.POSITIVE_INFINITY
  }

  /** Records `ranges` durably (merged with what is there); no write when all are recorded. */
  async record(ranges: readonly OffsetRange[], fsync: boolean): Promise<void> {
    const fresh = ranges.filter((r) => r.to > r.from && this.skip(r.from) < r.to)
    if (fresh.length === 0) return
    const next = mergeRanges([...this.list, ...fresh])
    await writeFileAtomic(this.file, `${JSON.stringify({ version: 1, aborted: next })}\n`, fsync)
    this.list = next
  }

  /** Re-reads the file (read-only readers: the owning process may have aborted more since). */
  async reload(): Promise<void> {
    this.list = (await AbortedRanges.load(path.dirname(this.file))).list
  }

  /** Index of the first range with `to` > offset (list.length: none). */
  private firstEndingAfter(offset: number): number {
    let lo = 0
    let hi = this.list.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.list[mid]!.to <= offset) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

/** Parses an aborted.json text; LOG_CORRUPT_SEGMENT naming the file when it is not one. */
export function parseAborted(text: string, file: string): OffsetRange[] {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    throw new SluiceError(
      'LOG_CORRUPT_SEGMENT',
      `aborted transactions file ${file} is damaged: ${(error as Error).message}`,
      { cause: error },
    )
  }
  const list = (parsed as { aborted?: unknown } | null)?.aborted
  if (!Array.isArray(list))
    throw new SluiceError('LOG_CORRUPT_SEGMENT', `aborted transactions file ${file} has no "aborted" list`)
  const ranges: OffsetRange[] = []
  for (const entry of list) {
    const { from, to } = (entry ?? {}) as Record<string, unknown>
    if (
      !Number.isSafeInteger(from) ||
      !Number.isSafeInteger(to) ||
      (from as number) < 0 ||
      (to as number) <= (from as number)
    ) {
      throw new SluiceError(
        'LOG_CORRUPT_SEGMENT',
        `aborted transactions file ${file} has a bad entry ${JSON.stringify(entry)}`,
      )
    }
    ranges.push({ from: from as number, to: to as number })
  }
  return mergeRanges(ranges)
}

/** Sorted, with overlapping and adjacent ranges merged. */
export function mergeRanges(ranges: readonly OffsetRange[]): OffsetRange[] {
  const sorted = [...ranges].sort((a, b) => a.from - b.from)
  const out: OffsetRange[] = []
  for (const range of sorted) {
    const last = out.at(-1)
    if (last !== undefined && range.from <= last.to)
      out[out.length - 1] = { from: last.from, to: Math.max(last.to, range.to) }
    else out.push({ from: range.from, to: range.to })
  }
  return out
}
