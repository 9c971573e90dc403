import type {
  AppendOptions,
  Log,
  LogRecord,
  OutgoingRecord,
  RecordBatch,
  RecordPosition,
  SubscribeOptions,
  Subscription,
  TopicConfig,
} from './index.ts'

/**
 * A Log that passes every call to another: the base of decorators (timing in benchmarks, fault
 * injection in tests) that override only the calls they care about.
 */
export class ForwardingLog implements Log {
  constructor(readonly inner: Log) {}

  ensureTopic(topic: string, config?: TopicConfig): Promise<void> {
    return this.inner.ensureTopic(topic, config)
  }

  partitions(topic: string): Promise<number> {
    return this.inner.partitions(topic)
  }

  append(
    topic: string,
    records: readonly OutgoingRecord[],
    options?: AppendOptions,
  ): Promise<RecordPosition[]> {
    return this.inner.append(topic, records, options)
  }

  read(topic: string, partition: number, fromOffset: number, maxRecords: number): Promise<LogRecord[]> {
    return this.inner.read(topic, partition, fromOffset, maxRecords)
  }

  endOffsets(topic: string): Promise<number[]> {
    return this.inner.endOffsets(topic)
  }

  committedOffsets(group: string, topic: string): Promise<number[]> {
    return this.inner.committedOffsets(group, topic)
  }

  committedMetadata(group: string, topic: string, partition: number): Promise<string | null> {
    return this.inner.committedMetadata(group, topic, partition)
  }

  subscribe(
    options: SubscribeOptions,
    handler: (batch: RecordBatch) => Promise<void>,
  ): Promise<Subscription> {
    return this.inner.subscribe(options, handler)
  }

  close(): Promise<void> {
    return this.inner.close()
  }
}
