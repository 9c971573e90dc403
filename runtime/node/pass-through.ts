/**
 * Pass-through of record bytes (issue 13, Nexmark q0): a source whose every consumer is a sink
 * writing to a topic without `headers { … }` sends its events out unchanged, so a record whose
 * bytes are already what the sink's encoder would write (the artifact's generated `passThrough`
 * check, compiler/codegen/canonical-json.ts) is written as those bytes, without being decoded
 * into a row and encoded again. Records that are not canonical, including every malformed one,
 * take the ordinary decode → encode path and its dead letters; the output is byte-identical.
 */
import type { GraphNode } from '../artifact/manifest.ts'
import type { SourceDecoder } from '../artifact/operators.ts'

/** The part of a source's generated code this uses: the canonical-bytes check. */
export type PassThroughCheck = NonNullable<SourceDecoder['passThrough']>

/**
 * The source nodes (by id) whose records may pass through: they have a check, at least one
 * consumer, and every consumer is a sink to a topic (not stdout) that sets no headers of its own.
 */
export function passThroughSources(
  nodes: readonly GraphNode[],
  consumersOf: (id: string) => readonly GraphNode[],
  hasCheck: (sourceName: string) => boolean,
  sinkSetsHeaders: (sinkId: string) => boolean,
): Set<string> {
  const ids = new Set<string>()
  for (const node of nodes) {
    if (node.kind !== 'Source' || !hasCheck(node.name)) continue
    const consumers = consumersOf(node.id)
    const allPlainSinks =
      consumers.length > 0 &&
      consumers.every((c) => c.kind === 'Sink' && c.connector.kind === 'kafka' && !sinkSetsHeaders(c.id))
    if (allPlainSinks) ids.add(node.id)
  }
  return ids
}

/**
 * The value a passed-through event carries in its batch: the record's own bytes. Rows are plain
 * objects, never Buffers, so a sink fed only by pass-through sources tells them apart by this.
 */
export function isPassedThrough(value: unknown): value is Buffer {
  return Buffer.isBuffer(value)
}
