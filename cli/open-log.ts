import { EmbeddedLog } from '../runtime/log/embedded.ts'
import type { Log } from '../runtime/log/index.ts'
import { KafkaLog } from '../runtime/log/kafka.ts'
import { UsageError } from './args.ts'

export interface LogSelection {
  readonly 'data-dir'?: string | undefined
  readonly kafka?: string | undefined
}

/** The log a command works on: Kafka when brokers are given, else the embedded log in the data dir. */
export async function openLog(
  options: LogSelection,
  mode: { readOnly?: boolean } = {},
): Promise<{ log: Log; describe: string }> {
  const brokers = options.kafka ?? process.env.SLUICE_KAFKA_BROKERS
  if (brokers && options['data-dir']) throw new UsageError('give either --kafka or --data-dir, not both')
  if (brokers) {
    const list = brokers
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean)
    return { log: await KafkaLog.connect({ brokers: list }), describe: `Kafka at ${list.join(',')}` }
  }
  const dir = options['data-dir'] ?? process.env.SLUICE_DATA_DIR ?? '.sluice'
  const log = mode.readOnly ? await EmbeddedLog.openReadOnly(dir) : await EmbeddedLog.open(dir)
  return { log, describe: `embedded log in ${dir}` }
}
