import { type FileHandle, open } from 'node:fs/promises'
import { SluiceError } from '../../runtime/errors.ts'
import type { OutgoingRecord } from '../../runtime/log/index.ts'
import { formatLogRecord } from '../../runtime/observability/logger.ts'
import { wellFormed } from '../../runtime/text/record-text.ts'
import {
  commandLogger,
  integerOption,
  LOG_OPTIONS,
  LOG_OPTIONS_HELP,
  loggingOptions,
  parse,
  UsageError,
} from '../args.ts'
import { byteLines, isBlank } from '../byte-lines.ts'
import type { Command } from '../command.ts'
import { openLog } from '../open-log.ts'
import { createProgress, type Progress } from '../progress.ts'
import { appendWaiting, waitForLog } from '../wait-for-log.ts'

const BATCH = 1000

export const produce: Command = {
  name: 'produce',
  summary: 'append JSON lines from a file or stdin to a topic',
  help: `Usage: sluice produce TOPIC [--file FILE] [--key-field FIELD] [options]

Appends one record per non-empty input line, as is: a line that is not valid JSON is still
appended, and the pipeline that reads it sends it to the dead-letter topic with the reason.

Options:
  -f, --file FILE       read lines from FILE (default, or FILE -: standard input)
  -k, --key-field NAME  use this top-level field of each JSON line as the record key
  --partitions N        partitions if the topic is created (default: 1)
  --from-line N         skip the input's lines before line N (1-based): to resume after a failure,
                        which says the line to resume from
${LOG_OPTIONS_HELP}
  -h, --help            show this help`,
  async run(argv, io) {
    const { positionals, values } = parse(argv, {
      ...LOG_OPTIONS,
      file: { type: 'string', short: 'f' },
      'key-field': { type: 'string', short: 'k' },
      partitions: { type: 'string' },
      'from-line': { type: 'string' },
    })
    if (positionals.length !== 1) throw new UsageError('sluice produce takes exactly one topic')
    const fromLine = integerOption(values['from-line'], 'from-line', 1)
    if (fromLine < 1) throw new UsageError('--from-line counts from 1')
    const topic = positionals[0]!
    const logging = loggingOptions(values, io)
    // Open the file before anything else: a missing one is the user's mistake to report, and a
    // stream created before anyone listens would throw its 'error' event as a crash.
    const file = values.file === undefined || values.file === '-' ? null : await openInput(values.file)
    let count = 0
    /** Input lines appended without a key although --key-field asked for one. */
    const keyless = lineTally()
    /** Of those, lines whose key held a lone surrogate, which has no UTF-8 form (issue 17). */
    const unwritableKeys = lineTally()
    try {
      const logger = commandLogger(logging, io)
      // Ctrl-C / SIGTERM ends the waiting for an unavailable log.
      const interrupted = new AbortController()
      void io.interrupted.then(() => interrupted.abort())
      const opened = await waitForLog(
        () => openLog(values, { logger, logLevel: logging.level, clientId: 'sluice-produce' }),
        logger,
        interrupted.signal,
      )
      if (opened === null) return 130
      const { log, describe } = opened
      // In JSON log format stderr carries JSON lines only: no progress, the result as one record.
      const progress =
        logging.format === 'json'
          ? jsonResult(`produce → ${topic}`, io.stderr, { topic })
          : createProgress(`produce → ${topic}`, { write: io.stderr, tty: io.color })
      const input = file ? file.createReadStream({ autoClose: false }) : process.stdin
      try {
        await log.ensureTopic(topic, { partitions: integerOption(values.partitions, 'partitions', 1) })
        let batch: OutgoingRecord[] = []
        // The input line of each record in `batch`, so a failure can say where to resume.
        let batchLines: number[] = []
        let lineNumber = 0
        const flush = async () => {
          try {
            await appendWaiting(log, topic, batch, logger, interrupted.signal)
          } catch (error) {
            const stopped = stoppedAt(error, batchLines, count, lineNumber)
            io.stderr(
              logging.format === 'json'
                ? formatLogRecord('json', 'error', `produce → ${topic}: ${stopped.message}`, {
                    topic,
                    appended: stopped.appended,
                    resumeFromLine: stopped.resumeFromLine,
                  })
                : `produce → ${topic}: ${stopped.message}\n`,
            )
            throw error
          }
          count += batch.length
          batch = []
          batchLines = []
        }
        const keyField = values['key-field']
        for await (const line of byteLines(input)) {
          lineNumber++
          if (lineNumber < fromLine || isBlank(line)) continue
          let key = keyField === undefined ? null : keyOf(line.toString('utf8'), keyField)
          if (key !== null && !wellFormed(key)) {
            // Written as UTF-8 it would silently become U+FFFD, a key the line never had.
            unwritableKeys.add(lineNumber)
            key = null
          }
          if (keyField !== undefined && key === null) keyless.add(lineNumber)
          // The line's bytes as they are (not decoded and encoded again, which would replace invalid
          // UTF-8): the pipeline dead-letters a bad line with its own bytes.
          batch.push({ key, value: line })
          batchLines.push(lineNumber)
          if (batch.length >= BATCH) {
            await flush()
            progress.update(count)
          }
        }
        if (batch.length > 0) await flush()
      } finally {
        await log.close()
      }
      progress.finish(`${count} records appended to ${describe}`)
      if (keyless.count > 0) {
        // Such records go round-robin over the partitions: their order per key is not kept.
        logger.warn(
          `${keyless.count} lines had no --key-field ${values['key-field']} (not JSON, the field missing or null, or holding a lone surrogate, which has no UTF-8 form) and were appended without a key`,
          { topic, lines: keyless.count, firstLine: keyless.first },
        )
      }
      if (unwritableKeys.count > 0) {
        logger.warn(
          `${unwritableKeys.count} lines had a --key-field ${values['key-field']} holding a lone surrogate (half of a UTF-16 pair, no UTF-8 form) and were appended without a key`,
          { topic, lines: unwritableKeys.count, firstLine: unwritableKeys.first },
        )
      }
    } finally {
      await file?.close()
    }
    return 0
  },
}

/**
 * What a failed append leaves behind, for the user to resume without duplicates: the records
 * durably appended (those of earlier batches, plus the failed batch's leading records the log
 * says it holds) and the input line of the first record that is not in the log.
 */
export function stoppedAt(
  error: unknown,
  batchLines: readonly number[],
  appendedBefore: number,
  linesRead: number,
): { message: string; appended: number; resumeFromLine: number } {
  const known = error instanceof SluiceError ? error.appended : undefined
  const inBatch = known === undefined ? 0 : Math.min(known, batchLines.length)
  const appended = appendedBefore + inBatch
  const resumeFromLine = batchLines[inBatch] ?? linesRead + 1
  const through = resumeFromLine > 1 ? ` (input lines 1..${resumeFromLine - 1})` : ''
  const message =
    known === undefined
      ? `stopped: ${appended} records were appended${through}; the log may also hold some of the ${batchLines.length} records of input lines ${batchLines[0]}..${batchLines.at(-1)} it was appending. Resume with --from-line ${resumeFromLine} (records the log already holds are then appended again)`
      : `stopped: ${appended} records durably appended${through}, nothing after that. Resume with --from-line ${resumeFromLine}`
  return { message, appended, resumeFromLine }
}

/** How many input lines something happened to, and the first of them. */
function lineTally() {
  return {
    count: 0,
    first: 0,
    add(line: number) {
      if (this.count++ === 0) this.first = line
    },
  }
}

function keyOf(line: string, field: string | undefined): string | null {
  if (field === undefined) return null
  try {
    const value = (JSON.parse(line) as Record<string, unknown> | null)?.[field]
    if (value === undefined || value === null) return null
    return typeof value === 'string' ? value : JSON.stringify(value)
  } catch {
    return null
  }
}

/** Opens FILE for reading, or explains why not as a usage error (like `check` does). */
async function openInput(path: string): Promise<FileHandle> {
  let handle: FileHandle | null = null
  try {
    handle = await open(path, 'r')
    if ((await handle.stat()).isDirectory())
      throw Object.assign(new Error('is a directory'), { code: 'EISDIR' })
    return handle
  } catch (error) {
    await handle?.close()
    throw new UsageError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`)
  }
}

/** A Progress that reports only the result, as one JSON log record. */
function jsonResult(label: string, write: (line: string) => void, fields: Record<string, unknown>): Progress {
  const started = performance.now()
  return {
    update: () => {},
    finish: (message) =>
      write(
        formatLogRecord('json', 'info', `${label}: ${message}`, {
          ...fields,
          durationMs: Math.round(performance.now() - started),
        }),
      ),
  }
}
