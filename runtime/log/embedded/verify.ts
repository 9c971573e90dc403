import { readdir, readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { ABORTED_FILE, AbortedRanges, mergeRanges, type OffsetRange } from './aborted.ts'
import { batchProducer } from './batch.ts'
import { classifyTail, findValidFrame, incompleteReason } from './damage.ts'
import { checkFrame } from './frame.ts'
import { isCode } from './fs-util.ts'
import { OffsetGaps } from './gaps.ts'
import { BACKUP_SUFFIX, decodeGroupName, readOffsetsFile } from './group-offsets.ts'
import { listSegments, segmentFileName, type TransactionalBatch } from './segment.ts'
import { decidedUntil, parseTransactionFile, TRANSACTIONS_DIR, type TransactionFile } from './transactions.ts'
import { readTxnTail, TXN_TAIL_FILE } from './txn-tail.ts'

/**
 * `sluice log verify`: reads every byte of an embedded data directory without changing anything
 * and says what it finds, per topic, partition, segment and consumer-group file. It needs no
 * lock (it works beside a running node; an incomplete last frame may then be a write in
 * progress, which is why it is a notice, not damage). repair.ts acts on the same findings.
 */

export interface DamageRange {
  /** Byte range [position, end) of the segment file that holds no valid frames. */
  readonly position: number
  readonly end: number
  /** torn: an incomplete last frame or zeros (a crash mid-write); corrupt: anything else. */
  readonly kind: 'torn' | 'corrupt'
  readonly reason: string
  /** The offset the first damaged frame should have. */
  readonly expectedOffset: number
  /** Offset of the valid frame at `end`; null when the damage runs to the end of the file. */
  readonly resumeOffset: number | null
  /** Highest offset readable in the damaged bytes (-1: none), and records in their complete frames. */
  readonly highestOffset: number
  readonly completeRecords: number
}

export interface SegmentFinding {
  readonly file: string
  readonly baseOffset: number
  readonly bytes: number
  readonly records: number
  /** Offset after the last valid record. */
  readonly nextOffset: number
  readonly damage: readonly DamageRange[]
  /** Its transactional batches (batch.ts, magic 3): offsets and the producer that wrote them. */
  readonly transactional: readonly TransactionalBatch[]
}

export interface PartitionFinding {
  readonly topic: string
  readonly partition: number
  readonly dir: string
  readonly segments: readonly SegmentFinding[]
  readonly gaps: OffsetGaps | null
  /** Offset ranges of aborted transactions (their records are never delivered); null if unreadable. */
  readonly aborted: readonly OffsetRange[] | null
  /** Damage outside the segments' bytes: a damaged gaps.json, unexplained or overlapping boundaries. */
  readonly problems: readonly PartitionProblem[]
  /** Quarantine files left by earlier recoveries (information, not damage). */
  readonly quarantined: readonly string[]
  /**
   * Offset ranges of transactional batches no commit or abort covers (past the transactional tail
   * mark and their producer's decided offset, not in aborted.json): a transaction still running,
   * or one the next open aborts. Information, not damage.
   */
  readonly unfinished: readonly OffsetRange[]
}

export type PartitionProblem =
  | { readonly kind: 'gaps-file'; readonly file: string; readonly reason: string }
  /** aborted.json is unreadable: which records belong to aborted transactions is unknown. */
  | { readonly kind: 'aborted-file'; readonly file: string; readonly reason: string }
  /** transactional.json is unreadable: where recovery must look for unfinished transactions is unknown. */
  | { readonly kind: 'txn-tail-file'; readonly file: string; readonly reason: string }
  | { readonly kind: 'missing-offsets'; readonly from: number; readonly to: number; readonly file: string }
  | { readonly kind: 'overlap'; readonly file: string; readonly reason: string }

export interface TopicFinding {
  readonly topic: string
  readonly dir: string
  /** Why meta.json is unusable, or null. */
  readonly metaProblem: string | null
  /**
   * No meta.json at all: a topic creation that did not finish (meta.json is written last). The
   * log ignores such a directory and creates the topic afresh when asked; it is not damage.
   */
  readonly unfinished: boolean
  readonly partitions: readonly PartitionFinding[]
}

export interface GroupFinding {
  readonly group: string
  readonly file: string
  readonly status: 'ok' | 'damaged-backup-good' | 'vanished-backup-good' | 'lost'
  readonly detail: string
}

/** An exactly-once transaction file (transactions.ts). */
export interface TransactionFinding {
  readonly file: string
  /** ok: committed or aborted; open: the next open aborts its ranges; damaged: the log refuses to open. */
  readonly status: 'ok' | 'open' | 'damaged'
  readonly detail: string
  readonly transaction: TransactionFile | null
}

export interface VerifyReport {
  readonly dataDir: string
  readonly topics: readonly TopicFinding[]
  readonly groups: readonly GroupFinding[]
  readonly transactions: readonly TransactionFinding[]
}

const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/

export async function verifyDataDir(dataDir: string): Promise<VerifyReport> {
  const logDir = path.join(dataDir, 'log')
  const transactions = await verifyTransactions(path.join(dataDir, TRANSACTIONS_DIR))
  const byProducer = new Map<number, TransactionFile>()
  for (const t of transactions)
    if (t.transaction?.producerId !== undefined) byProducer.set(t.transaction.producerId, t.transaction)
  const topics: TopicFinding[] = []
  for (const name of (await readdirOrEmpty(logDir)).sort()) {
    if (!TOPIC_NAME.test(name) || !(await isDirectory(path.join(logDir, name)))) continue
    topics.push(await verifyTopic(path.join(logDir, name), name, byProducer))
  }
  return {
    dataDir,
    topics,
    groups: await verifyGroups(path.join(dataDir, 'groups')),
    transactions,
  }
}

/** Whether the report holds damage (torn last frames alone are not: open() cuts them). */
export function hasDamage(report: VerifyReport): boolean {
  return (
    report.groups.some((g) => g.status !== 'ok') ||
    report.transactions.some((t) => t.status === 'damaged') ||
    report.topics.some(
      (t) =>
        t.metaProblem !== null ||
        t.partitions.some(
          (p) =>
            p.problems.length > 0 || p.segments.some((s, i) => isDamaged(s, i === p.segments.length - 1)),
        ),
    )
  )
}

export function isDamaged(segment: SegmentFinding, last: boolean): boolean {
  return segment.damage.some((d) => d.kind === 'corrupt' || d.resumeOffset !== null || !last)
}

async function verifyTopic(
  dir: string,
  topic: string,
  byProducer: ReadonlyMap<number, TransactionFile>,
): Promise<TopicFinding> {
  let metaProblem: string | null = null
  let count: number | null = null
  try {
    const meta = JSON.parse(await readFile(path.join(dir, 'meta.json'), 'utf8')) as {
      partitions?: unknown
    } | null
    const partitions = meta?.partitions
    if (typeof partitions === 'number' && Number.isSafeInteger(partitions) && partitions >= 1)
      count = partitions
    else metaProblem = 'no valid partition count'
  } catch (error) {
    if (isCode(error, 'ENOENT')) return { topic, dir, metaProblem: null, unfinished: true, partitions: [] }
    metaProblem = `damaged (${(error as Error).message})`
  }
  const dirs = (await readdirOrEmpty(dir)).filter((n) => /^\d+$/.test(n)).map(Number)
  const partitionCount = count ?? (dirs.length === 0 ? 0 : Math.max(...dirs) + 1)
  const partitions: PartitionFinding[] = []
  for (let p = 0; p < partitionCount; p++)
    partitions.push(await verifyPartition(path.join(dir, String(p)), topic, p, byProducer))
  return { topic, dir, metaProblem, unfinished: false, partitions }
}

async function verifyPartition(
  dir: string,
  topic: string,
  partition: number,
  byProducer: ReadonlyMap<number, TransactionFile>,
): Promise<PartitionFinding> {
  const problems: PartitionProblem[] = []
  let gaps: OffsetGaps | null = null
  try {
    gaps = await OffsetGaps.load(dir)
  } catch (error) {
    problems.push({ kind: 'gaps-file', file: path.join(dir, 'gaps.json'), reason: (error as Error).message })
  }
  let aborted: readonly OffsetRange[] | null = null
  try {
    aborted = (await AbortedRanges.load(dir)).all
  } catch (error) {
    problems.push({
      kind: 'aborted-file',
      file: path.join(dir, ABORTED_FILE),
      reason: (error as Error).message,
    })
  }
  // A damaged mark counts as 0, as repair rewrites it: the whole partition is looked at.
  let mark: number | null = 0
  try {
    mark = await readTxnTail(dir)
  } catch (error) {
    problems.push({
      kind: 'txn-tail-file',
      file: path.join(dir, TXN_TAIL_FILE),
      reason: (error as Error).message,
    })
  }
  const bases = await listSegments(dir)
  const segments: SegmentFinding[] = []
  for (const base of bases) segments.push(await verifySegment(path.join(dir, segmentFileName(base)), base))
  for (let i = 0; i + 1 < segments.length; i++) {
    const end = segments[i]!.nextOffset
    const next = segments[i + 1]!.baseOffset
    // A segment cut by damage ends where the damage began; the damage range accounts for the rest.
    if (segments[i]!.damage.length > 0) continue
    if (end > next) {
      problems.push({
        kind: 'overlap',
        file: segments[i]!.file,
        reason: `segment ends at offset ${end} but the next segment starts at ${next}`,
      })
    } else if (end < next && !(gaps?.covers(end, next) ?? false)) {
      problems.push({ kind: 'missing-offsets', from: end, to: next, file: segments[i]!.file })
    }
  }
  const quarantined = (await readdirOrEmpty(dir))
    .filter((n) => n.includes('.quarantine-at-'))
    .map((n) => path.join(dir, n))
  const unfinished: OffsetRange[] = []
  if (mark !== null) {
    const abortedRanges = AbortedRanges.of(aborted ?? [])
    for (const segment of segments) {
      for (const b of segment.transactional) {
        const to = b.offset + b.count
        if (to <= mark || abortedRanges.skip(b.offset) >= to) continue
        if (b.offset >= decidedUntil(byProducer.get(b.producerId), topic, partition))
          unfinished.push({ from: b.offset, to })
      }
    }
  }
  return {
    topic,
    partition,
    dir,
    segments,
    gaps,
    aborted,
    problems,
    quarantined,
    unfinished: mergeRanges(unfinished),
  }
}

/** Walks every frame of a segment file, collecting the ranges that hold no valid frames. */
export async function verifySegment(file: string, baseOffset: number): Promise<SegmentFinding> {
  const buf = await readFile(file)
  const damage: DamageRange[] = []
  let at = 0
  let expected = baseOffset
  let records = 0
  const transactional: TransactionalBatch[] = []
  while (at < buf.length) {
    const check = checkFrame(buf, at, buf.length)
    if (check.status === 'ok' && check.offset === expected) {
      const producer = batchProducer(buf, at)
      if (producer !== null)
        transactional.push({ offset: check.offset, count: check.count, producerId: producer.producerId })
      records += check.count
      expected += check.count
      at += check.size
      continue
    }
    const reason =
      check.status === 'ok'
        ? `frame has offset ${check.offset} where ${expected} was expected`
        : check.status === 'invalid'
          ? check.reason
          : incompleteReason(at, check.size, buf.length - at)
    const rest = buf.subarray(at)
    const found = findValidFrame(rest, expected)
    if (found !== null) {
      const tail = classifyTail(rest.subarray(0, found.at), expected, at)
      damage.push({
        position: at,
        end: at + found.at,
        kind: 'corrupt',
        reason: `${reason}, followed by a valid frame (offset ${found.offset}) at byte ${at + found.at}${check.status === 'incomplete' ? '; the length field is probably damaged' : ''}`,
        expectedOffset: expected,
        resumeOffset: found.offset,
        highestOffset: tail.highestOffset,
        completeRecords: tail.completeRecords,
      })
      at += found.at
      expected = found.offset
      continue
    }
    const tail = classifyTail(rest, expected, at)
    damage.push({
      position: at,
      end: buf.length,
      kind: tail.corrupt ? 'corrupt' : 'torn',
      reason: tail.reason,
      expectedOffset: expected,
      resumeOffset: null,
      highestOffset: tail.highestOffset,
      completeRecords: tail.completeRecords,
    })
    break
  }
  const nextOffset = damage.length > 0 ? damage[0]!.expectedOffset : expected
  return { file, baseOffset, bytes: buf.length, records, nextOffset, damage, transactional }
}

async function verifyGroups(dir: string): Promise<GroupFinding[]> {
  const encoded = new Set<string>()
  for (const name of await readdirOrEmpty(dir)) {
    const match = /^(.+)\.json(?:\.bak)?$/.exec(name)
    if (match !== null) encoded.add(match[1]!)
  }
  const findings: GroupFinding[] = []
  for (const name of [...encoded].sort()) {
    const file = path.join(dir, `${name}.json`)
    const group = decodeGroupName(name)
    const main = await readOffsetsFile(file)
    const backup = await readOffsetsFile(`${file}${BACKUP_SUFFIX}`)
    const backupText = backup.status === 'bad' ? `damaged (${backup.problem})` : backup.status
    if (main.status === 'ok') {
      findings.push({ group, file, status: 'ok', detail: `ok (backup generation ${backupText})` })
    } else if (backup.status === 'ok') {
      findings.push({
        group,
        file,
        status: main.status === 'missing' ? 'vanished-backup-good' : 'damaged-backup-good',
        detail:
          main.status === 'missing'
            ? 'missing; its backup generation is good and will be used (records after it are delivered again)'
            : `damaged (${main.problem}); its backup generation is good and will be used`,
      })
    } else {
      findings.push({
        group,
        file,
        status: 'lost',
        detail: `${main.status === 'missing' ? 'missing' : `damaged (${main.problem})`} and its backup generation is ${backupText}: the group's offsets are lost`,
      })
    }
  }
  return findings
}

async function verifyTransactions(dir: string): Promise<TransactionFinding[]> {
  const findings: TransactionFinding[] = []
  for (const name of (await readdirOrEmpty(dir)).sort()) {
    const match = /^(.+)\.json$/.exec(name)
    if (match === null) continue
    const file = path.join(dir, name)
    let transaction: TransactionFile
    try {
      transaction = parseTransactionFile(await readFile(file, 'utf8'), file, decodeGroupName(match[1]!))
    } catch (error) {
      findings.push({ file, status: 'damaged', detail: (error as Error).message, transaction: null })
      continue
    }
    const ranges = transaction.ranges
      .map((r) => `${r.topic}/${r.partition} ${r.from}..${r.to - 1}`)
      .join(', ')
    findings.push(
      transaction.state === 'open' && transaction.ranges.length > 0
        ? {
            file,
            status: 'open',
            detail: `transaction ${transaction.transactionalId} is open (records ${ranges}); if its process is gone, the next open aborts it`,
            transaction,
          }
        : {
            file,
            status: 'ok',
            detail: `transaction ${transaction.transactionalId}: ${transaction.state}`,
            transaction,
          },
    )
  }
  return findings
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir)
  } catch (error) {
    if (isCode(error, 'ENOENT')) return []
    throw error
  }
}

async function isDirectory(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isDirectory()
  } catch {
    return false
  }
}
