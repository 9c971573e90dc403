/**
 * The functions that read the log record an event was read from: its key, headers, partition,
 * offset and timestamp (specs/language.md, "Record metadata"). They are pure functions of that
 * record, which callers pass as a hidden first argument: generated chains pass the source record
 * of the event being processed, the reference interpreter the record it was pushed with. The
 * checker allows them only where an event is one record of a source (not after `aggregate`, a
 * window, a join or a match), so a record is always at hand where they are called.
 */
import { type ArgInfo, type LibType, type SignatureResult, showType, t } from './types.ts'

/** What the metadata functions read of a log record (a runtime LogRecord has these members). */
export interface RecordMetadata {
  readonly key: string | null
  readonly partition: number
  readonly offset: number
  readonly timestamp: number
  readonly headers: Readonly<Record<string, string>>
}

/** Names of the functions that take the record as a hidden first argument. */
export const RECORD_METADATA_FUNCTIONS: ReadonlySet<string> = new Set([
  'record_key',
  'record_header',
  'record_partition',
  'record_offset',
  'record_timestamp',
])

export function isRecordMetadataFunction(name: string): boolean {
  return RECORD_METADATA_FUNCTIONS.has(name)
}

function noArguments(name: string, result: LibType): (args: readonly ArgInfo[]) => SignatureResult {
  return (args) =>
    args.length === 0
      ? { ok: true, type: result }
      : {
          ok: false,
          arity: true,
          message: `\`${name}()\` takes no arguments (it reads the record the event was read from), but ${args.length} ${args.length === 1 ? 'was' : 'were'} given`,
        }
}

function headerSignature(args: readonly ArgInfo[]): SignatureResult {
  if (args.length !== 1) {
    return {
      ok: false,
      arity: true,
      message: `\`record_header\` takes 1 argument (name), but ${args.length} ${args.length === 1 ? 'was' : 'were'} given`,
    }
  }
  const type = args[0]!.type
  if (type.kind !== 'string')
    return {
      ok: false,
      argIndex: 0,
      message: `argument \`name\` of \`record_header\` must be string, found \`${showType(type)}\``,
    }
  return { ok: true, type: t.optional(t.string) }
}

/**
 * The registry entries (stdlib/index.ts adds them to `stdlib`). None is null-propagating in the
 * usual sense: the hidden record is never null, and `record_header(null)` is null by its impl.
 */
export const recordMetadataEntries = [
  {
    name: 'record_key',
    doc: 'The key of the log record the event was read from (null for a record without a key); the record as read, whatever a `key by` set since.',
    usage: 'record_key() → string?',
    signature: noArguments('record_key', t.optional(t.string)),
    nullPropagating: false,
    impl: (record: RecordMetadata): string | null => record.key,
  },
  {
    name: 'record_header',
    doc: 'The value of the header `name` of the log record the event was read from, as text (UTF-8), or null when it has no such header.',
    usage: 'record_header(name: string) → string?',
    signature: headerSignature,
    nullPropagating: false,
    impl: (record: RecordMetadata, name: string | null): string | null =>
      name !== null && Object.hasOwn(record.headers, name) ? record.headers[name]! : null,
  },
  {
    name: 'record_partition',
    doc: 'The partition of the log record the event was read from.',
    usage: 'record_partition() → i64',
    signature: noArguments('record_partition', t.i64),
    nullPropagating: false,
    impl: (record: RecordMetadata): number => record.partition,
  },
  {
    name: 'record_offset',
    doc: 'The offset of the log record the event was read from, in its partition.',
    usage: 'record_offset() → i64',
    signature: noArguments('record_offset', t.i64),
    nullPropagating: false,
    impl: (record: RecordMetadata): number => record.offset,
  },
  {
    name: 'record_timestamp',
    doc: "The timestamp of the log record the event was read from (Kafka's CreateTime, or the time it was appended); not the event time unless the schema has no `@event_time` field.",
    usage: 'record_timestamp() → timestamp',
    signature: noArguments('record_timestamp', t.timestamp),
    nullPropagating: false,
    impl: (record: RecordMetadata): number => record.timestamp,
  },
] as const
