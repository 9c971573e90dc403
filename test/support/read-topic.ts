/**
 * Test support: every record of a topic, partition by partition in offset order, as a reader sees
 * them (read_committed under exactly-once: records of open or aborted transactions are left out).
 */
import type { Log, LogRecord } from '../../runtime/log/index.ts'

export async function readTopic(
  log: Pick<Log, 'partitions' | 'read'>,
  topic: string,
  batch = 1000,
): Promise<LogRecord[]> {
  const out: LogRecord[] = []
  const partitions = await log.partitions(topic)
  for (let p = 0; p < partitions; p++) {
    for (let offset = 0; ; ) {
      const records = await log.read(topic, p, offset, batch)
      if (records.length === 0) break
      out.push(...records)
      offset = records.at(-1)!.offset + 1
    }
  }
  return out
}
