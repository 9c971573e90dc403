import path from 'node:path'
import { SluiceError } from '../../errors.ts'
import { writeFileAtomic } from './atomic-file.ts'
import { readTextIfExists } from './io-errors.ts'

/**
 * A partition's transactional tail mark: `<partitionDir>/transactional.json`,
 *
 *   { "version": 1, "from": 1200 }
 *
 * Every transactional batch (batch.ts, magic 3) of the partition that may belong to a transaction
 * not yet committed or aborted starts at `from` or later. Recovery and read-only readers find
 * those batches by scanning from `from` only, not the whole partition. The mark is written
 * before the partition's first transactional batch (no file: the partition holds none), moved to
 * the end after recovery decided everything, and moved forward to the last stable offset now and
 * then on commit. Any value it ever held stays a correct lower bound: batches written later land
 * past the end of the partition, which was past it when it was written, so a mark that is lost
 * in a crash while being moved only costs a longer scan.
 */
export const TXN_TAIL_FILE = 'transactional.json'

/** Reads the mark (null: no file, the partition never held a transactional batch). */
export async function readTxnTail(partitionDir: string): Promise<number | null> {
  const file = path.join(partitionDir, TXN_TAIL_FILE)
  const text = await readTextIfExists(file)
  return text === null ? null : parseTxnTail(text, file)
}

/** Parses the mark's text; LOG_CORRUPT_SEGMENT naming the file when it is not one. */
export function parseTxnTail(text: string, file: string): number {
  let from: unknown
  try {
    from = (JSON.parse(text) as { from?: unknown } | null)?.from
  } catch (error) {
    throw new SluiceError(
      'LOG_CORRUPT_SEGMENT',
      `transactional tail file ${file} is damaged: ${(error as Error).message}`,
      {
        cause: error,
      },
    )
  }
  if (!Number.isSafeInteger(from) || (from as number) < 0)
    throw new SluiceError('LOG_CORRUPT_SEGMENT', `transactional tail file ${file} has no valid "from" offset`)
  return from as number
}

/** Replaces the mark with `from` (atomically). */
export async function writeTxnTail(partitionDir: string, from: number, fsync: boolean): Promise<void> {
  const file = path.join(partitionDir, TXN_TAIL_FILE)
  await writeFileAtomic(file, `${JSON.stringify({ version: 1, from })}\n`, fsync)
}
