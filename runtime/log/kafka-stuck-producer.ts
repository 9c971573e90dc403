/**
 * An idempotent producer whose sequence numbers the broker no longer accepts (issues 15/16, Kafka
 * client defects), and how the log's append gets past it without losing or doubling records.
 *
 * The broker answers OUT_OF_ORDER_SEQUENCE_NUMBER when a batch does not start at the sequence it
 * expects from the producer id on that partition (its state ran ahead of or behind the client's:
 * a write the client never learned of, a truncated log), UNKNOWN_PRODUCER_ID when it has no state
 * for the producer id, and INVALID_PRODUCER_EPOCH when the id's epoch moved on. The broker wrote
 * nothing of the refused batch, and kafkajs rolls the partition's sequence back, so every later
 * send to that partition meets the same answer: the producer is stuck for good. What gets it going
 * again is the same step as after a lost answer (kafka-uncertain-batches.ts): a new producer id,
 * whose sequences start at 0 and which the broker cannot confuse with the old one's batches.
 *
 * Which batches of the failed request the broker wrote is not told: kafkajs reports a request's
 * first partition error only. So a request to one partition is sent again at once under the new
 * producer id (the broker refused that batch), but a request to several partitions is first sent
 * again per partition under the OLD id, whose rolled-back sequences make the broker answer a batch
 * it already wrote with its offsets instead of writing it twice; only the partitions refused again
 * go out under the new id. Either way every record is acknowledged once, at the offset it has.
 *
 * In a transaction these errors end the transactional producer instead (kafka-transactions.ts):
 * its open transaction is aborted and the subscriber starts over from its last commit.
 */

/** Broker answers that leave the idempotent producer unable to send to the partition again. */
export const STUCK_PRODUCER_ERRORS: readonly string[] = [
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'UNKNOWN_PRODUCER_ID',
  'INVALID_PRODUCER_EPOCH',
]

/** Whether `error` (or an error in its cause chain) is one of the broker answers `types`. */
export function isStuckProducerError(
  error: unknown,
  types: readonly string[] = STUCK_PRODUCER_ERRORS,
): boolean {
  let current: unknown = error
  for (let depth = 0; depth < 6 && current instanceof Error; depth++) {
    const type = (current as { type?: unknown }).type
    if (typeof type === 'string' && types.includes(type)) return true
    current = (current as { cause?: unknown }).cause ?? (current as { originalError?: unknown }).originalError
  }
  return false
}

/** What sendRenewingStuckProducer needs of the log. */
export interface RenewingSend<T> {
  /** The partition an item goes to. */
  partitionOf(item: T): number
  /** One produce request of `items` with the current producer (rejects with the broker's answer). */
  send(items: readonly T[]): Promise<void>
  /** Replaces the producer that got stuck by one with a new producer id (no-op if already replaced). */
  renew(): Promise<void>
}

/**
 * Sends `items` in one request; if the producer turns out stuck, gets past it as the module doc
 * says. Any other failure, and a failure of a send after the renewal, is thrown as it comes.
 */
export async function sendRenewingStuckProducer<T>(items: readonly T[], io: RenewingSend<T>): Promise<void> {
  try {
    await io.send(items)
    return
  } catch (error) {
    if (!isStuckProducerError(error)) throw error
  }
  const parts = new Map<number, T[]>()
  for (const item of items) {
    const partition = io.partitionOf(item)
    const part = parts.get(partition)
    if (part === undefined) parts.set(partition, [item])
    else part.push(item)
  }
  if (parts.size === 1) {
    await io.renew()
    await io.send(items)
    return
  }
  // All partitions under the old id first: a renewal in between would send a batch the broker
  // already wrote under the new id, where nothing recognises it.
  const refused: T[][] = []
  for (const part of parts.values()) {
    try {
      await io.send(part)
    } catch (error) {
      if (!isStuckProducerError(error)) throw error
      refused.push(part)
    }
  }
  if (refused.length === 0) return
  await io.renew()
  for (const part of refused) await io.send(part)
}
