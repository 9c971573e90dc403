import { copyFile, open, readFile, rename, truncate } from 'node:fs/promises'
import path from 'node:path'
import { writeFileAtomic, writeNewFile, writeSynced } from './atomic-file.ts'
import { syncDir } from './fs-util.ts'
import { OffsetGaps } from './gaps.ts'
import { BACKUP_SUFFIX, GroupOffsets } from './group-offsets.ts'
import { withFile } from './io-errors.ts'
import { acquireLock, releaseLock } from './lock.ts'
import { segmentFileName } from './segment.ts'
import { writeTxnTail } from './txn-tail.ts'
import { type PartitionFinding, type SegmentFinding, type TopicFinding, verifyDataDir } from './verify.ts'

/**
 * `sluice log repair`: acts on what verify.ts finds, with the data directory's LOCK held (so it
 * cannot run beside a process that owns the log). Nothing is deleted: damaged bytes are copied
 * to `<segment>.quarantine-at-<byte>` and damaged metadata files are renamed aside. Offsets are
 * never reused: offsets of records that are set aside, or missing, become recorded gaps, and a
 * damaged last segment continues past every offset that may have been handed out.
 *
 * - Damage with valid frames after it: the damaged bytes are quarantined, the valid frames after
 *   them move to a new segment named by their first offset, the segment is cut at the damage.
 * - Damage at the end of a segment: quarantined (a torn last write is only cut) and cut off.
 * - Offsets missing between segments with no recorded gap: recorded as a gap (they are lost).
 * - A damaged gaps.json or meta.json: renamed aside and rebuilt from the segment files.
 * - A damaged transactional.json (txn-tail.ts): renamed aside and rewritten as offset 0, the
 *   bound that is always right: the next open scans the whole partition for transactional
 *   batches of unfinished transactions.
 * - A damaged or missing consumer-group offsets file: restored from its backup generation, or
 *   set aside when no good generation is left (that group starts over, which the output says).
 * - A damaged aborted.json or transaction file is not repaired: without it nobody knows which
 *   records belong to aborted or unfinished transactions, and setting it aside would deliver
 *   them. It is reported (unrepaired) for a human to decide.
 *
 * Every action is planned first; with dryRun nothing is changed and the plan is returned.
 */

export interface RepairAction {
  /** What is (or would be) done, in words, naming files, bytes and offsets. */
  readonly description: string
}

export interface RepairResult {
  readonly actions: readonly RepairAction[]
  /** Damage repair does not know how to fix safely (described for a human). */
  readonly unrepaired: readonly string[]
}

interface Planned extends RepairAction {
  run(): Promise<void>
}

export async function repairDataDir(dataDir: string, options: { dryRun: boolean }): Promise<RepairResult> {
  const lock = await acquireLock(dataDir)
  try {
    const report = await verifyDataDir(dataDir)
    const planned: Planned[] = []
    const unrepaired: string[] = []
    const groups = new GroupOffsets(path.join(dataDir, 'groups'), { fsync: true, readOnly: true })
    for (const topic of report.topics) {
      if (topic.metaProblem !== null && topic.partitions.length === 0) {
        unrepaired.push(
          `topic ${topic.topic}: meta.json is ${topic.metaProblem} and there are no partition directories to rebuild it from`,
        )
      }
      planTopic(topic, planned)
      const committed = await groups.highestCommitted(topic.topic).catch(() => [] as number[])
      for (const partition of topic.partitions) {
        planPartition(partition, committed[partition.partition] ?? -1, planned, unrepaired)
      }
    }
    for (const t of report.transactions) {
      if (t.status === 'damaged') {
        unrepaired.push(
          `${t.file}: ${t.detail}; not repaired: moving it aside lets records of a transaction that never committed be delivered, so decide by hand`,
        )
      }
    }
    for (const group of report.groups) {
      const backup = `${group.file}${BACKUP_SUFFIX}`
      if (group.status === 'damaged-backup-good') {
        planned.push({
          description: `group ${group.group}: ${group.file} is ${group.detail}; renamed it aside and restored the backup generation ${backup}`,
          run: async () => {
            await renameAside(group.file)
            await restoreFrom(backup, group.file)
          },
        })
      } else if (group.status === 'vanished-backup-good') {
        planned.push({
          description: `group ${group.group}: ${group.file} was missing; restored the backup generation ${backup}`,
          run: () => restoreFrom(backup, group.file),
        })
      } else if (group.status === 'lost') {
        planned.push({
          description: `group ${group.group}: ${group.detail}; renamed the damaged files aside, so the group starts over (from the beginning or the end, as its consumers ask)`,
          run: async () => {
            await renameAside(group.file, true)
            await renameAside(backup, true)
          },
        })
      }
    }
    if (!options.dryRun) for (const action of planned) await action.run()
    return { actions: planned.map(({ description }) => ({ description })), unrepaired }
  } finally {
    await releaseLock(lock)
  }
}

function planTopic(topic: TopicFinding, planned: Planned[]): void {
  if (topic.metaProblem === null) return
  const meta = path.join(topic.dir, 'meta.json')
  const partitions = topic.partitions.length
  if (partitions === 0) return
  planned.push({
    description: `topic ${topic.topic}: meta.json is ${topic.metaProblem}; renamed it aside and rewrote it with ${partitions} partition(s), as many as there are partition directories`,
    run: async () => {
      await renameAside(meta)
      await writeFileAtomic(meta, JSON.stringify({ version: 1, partitions }), true)
    },
  })
}

function planPartition(
  p: PartitionFinding,
  highestCommitted: number,
  planned: Planned[],
  unrepaired: string[],
): void {
  const where = `${p.topic}/${p.partition}`
  let gaps = p.gaps
  const gapsFile = path.join(p.dir, 'gaps.json')
  const recordGap = (from: number, to: number, reason: string) => async () => {
    gaps ??= OffsetGaps.empty(p.dir)
    await gaps.record(from, to, reason, true)
  }
  for (const problem of p.problems) {
    if (problem.kind === 'gaps-file') {
      planned.push({
        description: `${where}: ${problem.reason}; renamed it aside (offset ranges missing between segments are recorded again below)`,
        run: async () => {
          await renameAside(gapsFile)
          gaps = OffsetGaps.empty(p.dir)
        },
      })
    }
    if (problem.kind === 'txn-tail-file') {
      planned.push({
        description: `${where}: ${problem.reason}; renamed it aside and rewrote it as offset 0 (the next open scans the whole partition for unfinished transactions)`,
        run: async () => {
          await renameAside(problem.file)
          await writeTxnTail(p.dir, 0, true)
        },
      })
    }
  }
  // Without a readable gaps.json every hole between segments needs recording again.
  const holes: { from: number; to: number; file: string }[] = []
  for (const problem of p.problems) {
    if (problem.kind === 'missing-offsets') holes.push(problem)
    if (problem.kind === 'aborted-file')
      unrepaired.push(
        `${where}: ${problem.reason}; not repaired: moving it aside lets records of aborted transactions be delivered, so decide by hand`,
      )
    if (problem.kind === 'overlap')
      unrepaired.push(
        `${where}: ${problem.file}: ${problem.reason}; not repaired (move the file aside by hand after checking it)`,
      )
  }
  if (p.gaps === null) {
    for (let i = 0; i + 1 < p.segments.length; i++) {
      const s = p.segments[i]!
      const next = p.segments[i + 1]!.baseOffset
      if (s.damage.length === 0 && s.nextOffset < next && !holes.some((h) => h.from === s.nextOffset))
        holes.push({ from: s.nextOffset, to: next, file: s.file })
    }
  }
  for (const hole of holes) {
    planned.push({
      description: `${where}: offsets ${hole.from}..${hole.to - 1} are missing after ${hole.file} and no gap explained them; recorded them as a gap (those records are lost; the offsets are never reused)`,
      run: recordGap(hole.from, hole.to, `records missing after ${hole.file}, found by repair`),
    })
  }
  p.segments.forEach((segment, i) => {
    const next = p.segments[i + 1]
    planSegment(
      where,
      segment,
      next === undefined ? null : next.baseOffset,
      highestCommitted,
      planned,
      recordGap,
      p.dir,
    )
  })
}

function planSegment(
  where: string,
  segment: SegmentFinding,
  nextBase: number | null,
  highestCommitted: number,
  planned: Planned[],
  recordGap: (from: number, to: number, reason: string) => () => Promise<void>,
  dir: string,
): void {
  if (segment.damage.length === 0) return
  const file = segment.file
  // From the end of the file backwards, so every step leaves a consistent prefix behind it.
  let end = segment.bytes
  const tail = segment.damage.at(-1)!
  if (tail.resumeOffset === null) {
    const bytes = end - tail.position
    const last = nextBase === null
    const keep = tail.kind === 'corrupt' || !last
    const continueAt = last
      ? Math.max(
          tail.expectedOffset,
          tail.highestOffset + 1,
          tail.expectedOffset + tail.completeRecords,
          highestCommitted,
        )
      : nextBase
    const retired =
      continueAt > tail.expectedOffset
        ? `; offsets ${tail.expectedOffset}..${continueAt - 1} retired as a recorded gap`
        : ''
    const position = tail.position
    planned.push({
      description: `${where}: ${file} byte ${position}: ${tail.reason}; ${keep ? `moved ${bytes} bytes to ${file}.quarantine-at-${position}` : `cut ${bytes} bytes (a torn write)`}${retired}${last && continueAt > tail.expectedOffset ? `; appends continue at offset ${continueAt} in a new segment` : ''}`,
      run: async () => {
        if (keep) await quarantine(file, position, end)
        if (continueAt > tail.expectedOffset)
          await recordGap(tail.expectedOffset, continueAt, `records set aside from ${file} by repair`)()
        await cut(file, position)
        if (last && continueAt > tail.expectedOffset) await createEmptySegment(dir, continueAt)
      },
    })
    end = tail.position
  }
  for (const range of segment.damage.filter((d) => d.resumeOffset !== null).reverse()) {
    const resume = range.resumeOffset!
    const from = range.position
    const until = end
    const newFile = path.join(dir, segmentFileName(resume))
    planned.push({
      description: `${where}: ${file} byte ${from}: ${range.reason}; moved ${range.end - from} damaged bytes to ${file}.quarantine-at-${from}, the valid records after them (offset ${resume} on) to a new segment ${newFile}${resume > range.expectedOffset ? `; offsets ${range.expectedOffset}..${resume - 1} retired as a recorded gap` : ''}`,
      run: async () => {
        await quarantine(file, from, range.end)
        await copyRange(file, range.end, until, newFile)
        if (resume > range.expectedOffset)
          await recordGap(range.expectedOffset, resume, `damaged records set aside from ${file} by repair`)()
        await cut(file, from)
      },
    })
    end = from
  }
}

async function quarantine(file: string, from: number, to: number): Promise<void> {
  const bytes = (await withFile(file, 'reading', () => readFile(file))).subarray(from, to)
  await writeNewFile(file, `quarantine-at-${from}`, bytes)
}

async function copyRange(file: string, from: number, to: number, target: string): Promise<void> {
  const bytes = (await withFile(file, 'reading', () => readFile(file))).subarray(from, to)
  await writeSynced(target, bytes, 'w')
}

async function cut(file: string, at: number): Promise<void> {
  await withFile(file, 'cutting', async () => {
    await truncate(file, at)
    const fh = await open(file, 'r+')
    try {
      await fh.datasync()
    } finally {
      await fh.close()
    }
  })
}

async function createEmptySegment(dir: string, base: number): Promise<void> {
  const file = path.join(dir, segmentFileName(base))
  await withFile(file, 'creating', async () => {
    await (await open(file, 'a')).close()
    await syncDir(dir)
  })
}

/** Renames a damaged file to `<file>.damaged-<time>` (kept for inspection, never deleted). */
async function renameAside(file: string, tolerateMissing = false): Promise<void> {
  const aside = `${file}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`
  try {
    await rename(file, aside)
  } catch (error) {
    if (tolerateMissing && (error as { code?: unknown }).code === 'ENOENT') return
    throw error
  }
}

async function restoreFrom(backup: string, file: string): Promise<void> {
  const temp = `${file}.restore.tmp`
  await withFile(file, 'restoring', async () => {
    await copyFile(backup, temp)
    const fh = await open(temp, 'r+')
    try {
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(temp, file)
    await syncDir(path.dirname(file))
  })
}
