/**
 * What the pipeline runner needs to act on a tick (RecordBatch.tick: a quiet task, no records):
 * which sources of the task move and how far, and the stand-in record that results fired by the
 * tick name as their origin (docs/decisions/0028-idle-partitions-and-processing-time.md).
 */
import type { GraphNode } from '../artifact/manifest.ts'
import type { EventBatch } from '../artifact/operators.ts'
import type { LogRecord, RecordBatch } from '../log/index.ts'
import type { PartitionWatermarks } from '../window/idle-inputs.ts'

/**
 * The record a tick's results and dead letters point to: the task's partition, offset -1 (no
 * record of the log), no key, value or headers, timestamped `now`. A window result fired by a
 * tick that fails to encode is dead-lettered with it, so the dead letter names the partition.
 */
export function tickRecord(batch: RecordBatch, now: number): LogRecord {
  return {
    topic: batch.topic,
    partition: batch.partition,
    offset: -1,
    key: null,
    value: Buffer.alloc(0),
    headers: {},
    timestamp: now,
  }
}

/**
 * The sources of the task's topics whose partition is idle and has a watermark to follow, each
 * with the largest event time its operators should take as seen (PartitionWatermarks.idleMaxTime).
 * Every source of the task is told of the tick first, so the idle timeout of a partition that
 * was restored but never delivers again starts running.
 */
export function ticksOf(
  topics: readonly string[],
  partition: number,
  sourcesByTopic: ReadonlyMap<string, readonly { readonly node: GraphNode & { kind: 'Source' } }[]>,
  watermarks: PartitionWatermarks | null,
): { node: GraphNode & { kind: 'Source' }; maxTime: number }[] {
  if (watermarks === null) return []
  const moved: { node: GraphNode & { kind: 'Source' }; maxTime: number }[] = []
  for (const topic of topics) {
    for (const { node } of sourcesByTopic.get(topic) ?? []) {
      watermarks.ticked(node.name, partition)
      const maxTime = watermarks.idleMaxTime(node.name, partition)
      if (maxTime !== null) moved.push({ node, maxTime })
    }
  }
  return moved
}

/**
 * A processing-time window's view of a batch: every event timed `now` (the node's clock as it
 * processes the batch), and the watermark at `now` as of every source record, so the window
 * assigns and fires by the clock alone.
 */
export function atProcessingTime(
  batch: EventBatch,
  records: number,
  now: number,
): { batch: EventBatch; maxTimes: Float64Array } {
  const timestamps = new Array<number>(batch.length).fill(now)
  return {
    batch: { ...batch, timestamps },
    maxTimes: new Float64Array(Math.max(records, 1)).fill(now),
  }
}
