import { setTimeout as sleep } from 'node:timers/promises'
import { isSluiceError, SluiceError } from '../../runtime/errors.ts'
import {
  commandLogger,
  integerOption,
  LOG_OPTIONS,
  LOG_OPTIONS_HELP,
  loggingOptions,
  parse,
  UsageError,
} from '../args.ts'
import type { Command } from '../command.ts'
import { openLog } from '../open-log.ts'

const NEWLINE = Buffer.from('\n')

export const consume: Command = {
  name: 'consume',
  summary: 'print the records of a topic',
  help: `Usage: sluice consume TOPIC [options]

Prints each record's value, one per line (or, with --meta, a JSON object with partition, offset,
key, timestamp, headers and value). Reads without joining a consumer group and, on the embedded
log, without taking the data directory's lock, so it works beside a running node.

Options:
  --partition N         only this partition (default: all)
  --offset N            start at this offset (default: 0)
  -n, --max N           stop after N records
  --follow              keep waiting for new records (Ctrl-C to stop)
  --meta                print records with their metadata
  --skip-corrupt        embedded log: step over damaged records with a warning naming the file,
                        bytes and offsets (default: stop with an error at the first one, exit 1)
${LOG_OPTIONS_HELP}
  -h, --help            show this help`,
  async run(argv, io) {
    const { positionals, values } = parse(argv, {
      ...LOG_OPTIONS,
      partition: { type: 'string' },
      offset: { type: 'string' },
      max: { type: 'string', short: 'n' },
      follow: { type: 'boolean' },
      meta: { type: 'boolean' },
      'skip-corrupt': { type: 'boolean' },
    })
    if (positionals.length !== 1) throw new UsageError('sluice consume takes exactly one topic')
    const topic = positionals[0]!
    const max = integerOption(values.max, 'max', Number.MAX_SAFE_INTEGER)
    const logging = loggingOptions(values, io)
    const { log } = await openLog(values, {
      readOnly: true,
      skipCorrupt: values['skip-corrupt'] === true,
      logger: commandLogger(logging, io),
      logLevel: logging.level,
      clientId: 'sluice-consume',
    })
    let printed = 0
    let stop = false
    io.interrupted.then(() => {
      stop = true
    })
    try {
      const partitionCount = await log.partitions(topic)
      const only = values.partition === undefined ? null : integerOption(values.partition, 'partition', 0)
      if (only !== null && only >= partitionCount)
        throw new UsageError(`${topic} has ${partitionCount} partition(s); no partition ${only}`)
      const partitions = only === null ? [...Array(partitionCount).keys()] : [only]
      const next = partitions.map(() => integerOption(values.offset, 'offset', 0))
      while (!stop && printed < max) {
        let progressed = false
        for (const [i, partition] of partitions.entries()) {
          const records = await log.read(topic, partition, next[i]!, Math.min(1000, max - printed))
          for (const r of records) {
            // A value is printed as its bytes, so one that is not UTF-8 shows as it is stored
            // (issue 17: decoding it for the terminal showed U+FFFD, as if produce had replaced it).
            if (!values.meta && io.stdoutBytes) io.stdoutBytes(Buffer.concat([r.value, NEWLINE]))
            else {
              const value = r.value.toString('utf8')
              io.stdout(
                values.meta
                  ? `${JSON.stringify({ partition: r.partition, offset: r.offset, key: r.key, timestamp: r.timestamp, headers: r.headers, value })}\n`
                  : `${value}\n`,
              )
            }
            next[i] = r.offset + 1
          }
          printed += records.length
          progressed ||= records.length > 0
          if (printed >= max) break
        }
        if (!progressed) {
          if (!values.follow) break
          await sleep(200)
        }
      }
    } catch (error) {
      // The records before the damage are printed; say how to read past it.
      if (isSluiceError(error, 'LOG_CORRUPT_SEGMENT') && values['skip-corrupt'] !== true) {
        throw new SluiceError(
          error.code,
          `${error.message}; or rerun with --skip-corrupt to step over the damaged records`,
          { cause: error },
        )
      }
      throw error
    } finally {
      await log.close()
    }
    return 0
  },
}
