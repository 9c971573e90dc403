import { stat } from 'node:fs/promises'
import path from 'node:path'
import { SluiceError } from '../../runtime/errors.ts'
import { repairDataDir } from '../../runtime/log/embedded/repair.ts'
import {
  hasDamage,
  isDamaged,
  type PartitionFinding,
  type SegmentFinding,
  type VerifyReport,
  verifyDataDir,
} from '../../runtime/log/embedded/verify.ts'
import { parse, UsageError } from '../args.ts'
import type { Command, CommandIO } from '../command.ts'

/**
 * `sluice log verify` and `sluice log repair`: what an operator runs when the embedded log says
 * a segment or offsets file is damaged (docs/decisions/0008-embedded-log-damage.md).
 */
export const log: Command = {
  name: 'log',
  summary: 'verify or repair an embedded data directory (damaged segments, offsets files)',
  help: `Usage: sluice log verify [--data-dir DIR]
       sluice log repair [--data-dir DIR] [--dry-run]

verify   reads every segment, offset-gap, topic and consumer-group offsets file of the embedded
         log and says what it finds per topic, partition and segment. Changes nothing and takes
         no lock, so it works beside a running node (a last record still being written shows as
         a notice, not damage). Exit code 1 when it finds damage.

repair   sets damage aside so the log works again, and says exactly what it did. Takes the data
         directory's LOCK: it refuses to run while a node (or another command) owns the log.
         - damaged bytes in a segment are moved to <segment>.quarantine-at-<byte> (never deleted);
           valid records after them stay readable (they move to a segment of their own);
         - the offsets of records set aside are retired as a recorded gap (gaps.json), never
           handed out again, and a damaged last segment continues past every offset a consumer
           group already committed;
         - a damaged consumer-group offsets file is replaced by its backup generation (the group
           then re-reads a few records), or set aside when none is good (the group starts over);
         - a damaged meta.json or gaps.json is renamed aside and rebuilt.
         Exit code 1 when damage is left that repair cannot fix.

Options:
  --data-dir DIR        the data directory (default: $SLUICE_DATA_DIR or .sluice)
  --dry-run             repair: say what would be done, change nothing
  -h, --help            show this help`,
  async run(argv, io) {
    const { positionals, values } = parse(argv, {
      'data-dir': { type: 'string' },
      'dry-run': { type: 'boolean' },
    })
    const [sub, ...extra] = positionals
    if (sub !== 'verify' && sub !== 'repair')
      throw new UsageError(
        sub === undefined ? 'say verify or repair' : `unknown subcommand "${sub}" (verify | repair)`,
      )
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`)
    if (sub === 'verify' && values['dry-run']) throw new UsageError('--dry-run is for repair')
    const dir = values['data-dir'] ?? process.env.SLUICE_DATA_DIR ?? '.sluice'
    await requireDataDir(dir)
    return sub === 'verify' ? verify(dir, io) : repair(dir, values['dry-run'] === true, io)
  },
}

async function requireDataDir(dir: string): Promise<void> {
  const isDir = await stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  )
  if (!isDir) throw new SluiceError('LOG_INVALID_ARGUMENT', `no data directory at ${dir}`)
}

async function verify(dir: string, io: CommandIO): Promise<number> {
  const report = await verifyDataDir(dir)
  io.stdout(formatReport(report))
  if (!hasDamage(report)) {
    io.stdout('no damage found\n')
    return 0
  }
  io.stdout(
    `damage found: run \`sluice log repair --data-dir ${JSON.stringify(dir)} --dry-run\` to see what repair would do, then without --dry-run (with the log closed)\n`,
  )
  return 1
}

async function repair(dir: string, dryRun: boolean, io: CommandIO): Promise<number> {
  const result = await repairDataDir(dir, { dryRun })
  const verb = dryRun ? 'would do' : 'did'
  if (result.actions.length === 0 && result.unrepaired.length === 0) {
    io.stdout('nothing to repair\n')
    return 0
  }
  if (result.actions.length > 0) {
    io.stdout(
      `${dryRun ? 'repair --dry-run (nothing changed)' : 'repair'}: ${result.actions.length} action(s) it ${verb}:\n`,
    )
    for (const action of result.actions) io.stdout(`  - ${action.description}\n`)
  }
  for (const problem of result.unrepaired) io.stdout(`  ! not repaired: ${problem}\n`)
  return result.unrepaired.length > 0 ? 1 : 0
}

export function formatReport(report: VerifyReport): string {
  const lines: string[] = [`data directory ${report.dataDir}`]
  if (report.topics.length === 0) lines.push('  no topics')
  for (const topic of report.topics) {
    if (topic.unfinished) {
      lines.push(`topic ${topic.topic}: no meta.json, an unfinished topic creation (the log ignores it)`)
      continue
    }
    lines.push(`topic ${topic.topic}: ${topic.partitions.length} partition(s)`)
    if (topic.metaProblem !== null)
      lines.push(`  DAMAGED ${path.join(topic.dir, 'meta.json')}: ${topic.metaProblem}`)
    for (const partition of topic.partitions) lines.push(...formatPartition(partition))
  }
  lines.push(report.groups.length === 0 ? 'consumer groups: none' : 'consumer groups:')
  for (const group of report.groups) {
    lines.push(
      `  ${group.status === 'ok' ? 'ok     ' : 'DAMAGED'} ${group.group} (${group.file}): ${group.detail}`,
    )
  }
  if (report.transactions.length > 0) lines.push('exactly-once transactions:')
  for (const t of report.transactions) {
    const status = t.status === 'ok' ? 'ok     ' : t.status === 'open' ? 'open   ' : 'DAMAGED'
    lines.push(`  ${status} ${path.basename(t.file)}: ${t.detail}`)
  }
  return `${lines.join('\n')}\n`
}

function formatPartition(p: PartitionFinding): string[] {
  const records = p.segments.reduce((n, s) => n + s.records, 0)
  const damaged =
    p.problems.length > 0 || p.segments.some((s, i) => isDamaged(s, i === p.segments.length - 1))
  const lines = [
    `  partition ${p.partition}: ${damaged ? 'DAMAGED' : 'ok'}, ${p.segments.length} segment(s), ${records} record(s)${p.gaps && p.gaps.all.length > 0 ? `, retired offsets ${p.gaps.all.map((g) => `${g.from}..${g.to - 1}`).join(', ')}` : ''}${p.aborted && p.aborted.length > 0 ? `, aborted (exactly-once, never delivered) ${p.aborted.map((g) => `${g.from}..${g.to - 1}`).join(', ')}` : ''}${p.unfinished.length > 0 ? `, unfinished transactions (the next open aborts them) ${p.unfinished.map((g) => `${g.from}..${g.to - 1}`).join(', ')}` : ''}`,
  ]
  for (const [i, segment] of p.segments.entries())
    lines.push(...formatSegment(segment, i === p.segments.length - 1))
  for (const problem of p.problems) {
    if (problem.kind === 'missing-offsets')
      lines.push(
        `    DAMAGED offsets ${problem.from}..${problem.to - 1} are missing after ${problem.file} and no gap is recorded for them`,
      )
    else lines.push(`    DAMAGED ${problem.file}: ${problem.reason}`)
  }
  for (const file of p.quarantined) lines.push(`    note: ${file} holds damaged bytes set aside earlier`)
  return lines
}

function formatSegment(s: SegmentFinding, last: boolean): string[] {
  const name = path.basename(s.file)
  const offsets = s.records === 0 ? 'no records' : `${s.records} record(s)`
  if (s.damage.length === 0) return [`    ok      ${name}: ${offsets}, ${s.bytes} bytes`]
  const lines = [
    `    ${isDamaged(s, last) ? 'DAMAGED' : 'notice '} ${name}: ${offsets} readable, ${s.bytes} bytes`,
  ]
  for (const d of s.damage) {
    const lost =
      d.resumeOffset === null
        ? `from offset ${d.expectedOffset} on`
        : d.resumeOffset > d.expectedOffset
          ? `offsets ${d.expectedOffset}..${d.resumeOffset - 1} unreadable`
          : 'no offsets lost'
    const torn = d.kind === 'torn' && last && d.resumeOffset === null
    lines.push(
      `      bytes ${d.position}..${d.end - 1} (${lost}): ${d.reason}${torn ? ' (a write in progress, or torn by a crash: the next open cuts it)' : ''}`,
    )
  }
  return lines
}
