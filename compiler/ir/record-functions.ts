/**
 * The reference interpreter's record metadata functions (stdlib/record-metadata.ts): the stdlib
 * entries take the source record as a hidden first argument, which the interpreter supplies from
 * the event being pushed (it is synchronous, so every evaluation during a push is of that event;
 * the checker allows these calls only on events that are each one source record).
 */
import { isRecordMetadataFunction, type RecordMetadata } from '../../stdlib/record-metadata.ts'
import type { FunctionTable, InterpretedFunction } from './interpret.ts'

/** What the interpreter knows of the event being pushed. */
export interface PushedEvent {
  readonly key: string | null
  readonly timestamp: number
  readonly record?: RecordMetadata
}

/**
 * The record of an event pushed without one: its key, its time as the record timestamp, no
 * headers, partition 0 and offset 0.
 */
function defaultRecord(event: PushedEvent): RecordMetadata {
  return { key: event.key, partition: 0, offset: 0, timestamp: event.timestamp, headers: {} }
}

/** `functions` with each record metadata function bound to the record of `current()`. */
export function bindRecordMetadata(functions: FunctionTable, current: () => PushedEvent): FunctionTable {
  const bound: Record<string, InterpretedFunction> = { ...functions }
  for (const [name, fn] of Object.entries(functions)) {
    if (!isRecordMetadataFunction(name)) continue
    const impl = fn.impl as (record: RecordMetadata, ...args: unknown[]) => unknown
    bound[name] = {
      nullPropagating: false,
      impl: ((...args: unknown[]) => {
        const event = current()
        return impl(event.record ?? defaultRecord(event), ...args)
      }) as (...args: never[]) => unknown,
    }
  }
  return bound
}
