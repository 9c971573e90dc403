/**
 * The record batches of the idempotent producer whose outcome is unknown, per topic and partition,
 * and the rule that keeps them from costing acknowledged records (issue 16 item 5).
 *
 * When a produce request fails without the broker's answer (the connection closed, the request
 * timed out), the broker may have written it. kafkajs then rolls the partition's sequence number
 * back, which is right for sending the same batch again: the broker recognises it (same producer
 * id, epoch, first and last sequence) and answers with the offsets it already gave. But the broker
 * recognises a duplicate by those sequence numbers alone, not by content: a DIFFERENT batch with
 * the same number of records sent next under the rolled-back sequence is taken for the written one,
 * dropped, and answered with the old batch's offsets. The caller that gave up on the first batch
 * (the gateway answered its clients 503 after its append timeout) would acknowledge records that
 * were never stored; a different count gets OUT_OF_ORDER_SEQUENCE_NUMBER instead, which kafkajs
 * cannot recover from either. (kafkajs warns that limiting an idempotent producer's retries "may
 * invalidate EoS guarantees": this is how.)
 *
 * So after such a failure, the next batch to that partition must be the same records (then the
 * broker's deduplication keeps it exactly once), or the log starts a new producer id first (new id,
 * sequences from 0: nothing can be taken for an earlier batch), which is what `conflicts` decides.
 */
import type { OutgoingRecord } from './index.ts'

/** A send's records per partition, in the order kafkajs writes them into each partition's batch. */
export type PartitionBatches = ReadonlyMap<number, readonly OutgoingRecord[]>

export class UncertainBatches {
  /** topic → partition → the records of the batch whose outcome is unknown. */
  readonly #uncertain = new Map<string, Map<number, readonly OutgoingRecord[]>>()

  /** Whether any batch's outcome is unknown. */
  get empty(): boolean {
    return this.#uncertain.size === 0
  }

  /**
   * Whether sending `batches` to `topic` with the current producer id could be taken for a batch
   * the broker may hold: some partition has an unknown batch and this send's batch there differs.
   */
  conflicts(topic: string, batches: PartitionBatches): boolean {
    const partitions = this.#uncertain.get(topic)
    if (partitions === undefined) return false
    for (const [partition, records] of batches) {
      const uncertain = partitions.get(partition)
      if (uncertain !== undefined && !sameRecords(uncertain, records)) return true
    }
    return false
  }

  /** A send of `batches` failed without an answer: the broker may hold any of them. */
  failed(topic: string, batches: PartitionBatches): void {
    let partitions = this.#uncertain.get(topic)
    if (partitions === undefined) {
      partitions = new Map()
      this.#uncertain.set(topic, partitions)
    }
    for (const [partition, records] of batches) partitions.set(partition, records)
  }

  /** The broker answered for `partitions` (written, or refused): their outcome is known again. */
  settled(topic: string, partitions: Iterable<number>): void {
    const known = this.#uncertain.get(topic)
    if (known === undefined) return
    for (const partition of partitions) known.delete(partition)
    if (known.size === 0) this.#uncertain.delete(topic)
  }

  /** A new producer id: no batch of the old one can be confused with the new one's. */
  clear(): void {
    this.#uncertain.clear()
  }
}

/** `records` grouped by partition, in order (kafkajs writes one batch per partition in input order). */
export function batchesByPartition(
  records: readonly { readonly record: OutgoingRecord; readonly partition: number }[],
): Map<number, OutgoingRecord[]> {
  const batches = new Map<number, OutgoingRecord[]>()
  for (const { record, partition } of records) {
    const batch = batches.get(partition)
    if (batch === undefined) batches.set(partition, [record])
    else batch.push(record)
  }
  return batches
}

/**
 * Same records in the same order: the same objects (a caller sending again what failed), or equal
 * keys, values, headers and explicit timestamps (then the broker's keeping the first copy loses
 * nothing; a record without a timestamp gets the time of its send, which may differ).
 */
function sameRecords(a: readonly OutgoingRecord[], b: readonly OutgoingRecord[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (!sameRecord(a[i]!, b[i]!)) return false
  return true
}

function sameRecord(a: OutgoingRecord, b: OutgoingRecord): boolean {
  if (a === b) return true
  if (a.key !== b.key || a.timestamp !== b.timestamp || !a.value.equals(b.value)) return false
  const aHeaders = Object.entries(a.headers ?? {})
  const bHeaders = b.headers ?? {}
  if (aHeaders.length !== Object.keys(bHeaders).length) return false
  return aHeaders.every(([name, value]) => bHeaders[name] === value)
}
