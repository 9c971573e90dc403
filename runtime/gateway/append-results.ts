/**
 * Where each record of one request went, as the group appender (appender.ts) hands it back: the
 * partition and offset of record i, or why the log refused it. Two typed arrays and a map of the
 * (rare) refusals instead of one object per record: at 100 k batched events/s those objects, and
 * the answer strings built from them, were a fifth of the gateway's garbage, whose collection
 * pauses were the WebSocket ack's tail (issue 16, docs/decisions/0034-gateway-hot-path.md).
 *
 * A record acknowledged by a log that failed afterwards, whose position is unknown
 * (SluiceError.appended), has partition -1 and offset -1.
 */

/** Where a record went: its position, or why the log refused it. */
export type AppendResult =
  | { readonly partition: number; readonly offset: number }
  | { readonly refused: string }

const NO_REFUSALS: ReadonlyMap<number, string> = new Map()

export class AppendResults {
  constructor(
    /** Partition of record i (-1 where refused or unknown). */
    readonly partitions: Int32Array,
    /** Offset of record i (-1 where refused or unknown). */
    readonly offsets: Float64Array,
    /** Record index → the log's reason, for the records it refused. */
    readonly refused: ReadonlyMap<number, string> = NO_REFUSALS,
  ) {}

  static readonly EMPTY = new AppendResults(new Int32Array(0), new Float64Array(0))

  /** From one object per record (tests, and the few callers that have them). */
  static of(results: readonly AppendResult[]): AppendResults {
    const partitions = new Int32Array(results.length)
    const offsets = new Float64Array(results.length)
    const refused = new Map<number, string>()
    results.forEach((result, i) => {
      if ('refused' in result) {
        refused.set(i, result.refused)
        partitions[i] = -1
        offsets[i] = -1
      } else {
        partitions[i] = result.partition
        offsets[i] = result.offset
      }
    })
    return new AppendResults(partitions, offsets, refused.size === 0 ? NO_REFUSALS : refused)
  }

  get length(): number {
    return this.partitions.length
  }

  /** Records the log refused. */
  get refusedCount(): number {
    return this.refused.size
  }

  /** Record i as an object (for answers that are objects, such as gRPC's). */
  at(i: number): AppendResult {
    const reason = this.refused.get(i)
    return reason !== undefined
      ? { refused: reason }
      : { partition: this.partitions[i]!, offset: this.offsets[i]! }
  }

  toArray(): AppendResult[] {
    return Array.from({ length: this.length }, (_, i) => this.at(i))
  }
}
