/**
 * The streams the gateway accepts: one per source of the deployed artifacts, with the topic the
 * source reads and the decoder the compiler generated for its schema. The gateway validates an
 * event by running that decoder (no per-event interpretation of the schema) and writes the event's
 * own bytes, so the pipeline decodes exactly what was validated.
 */
import type { LoadedArtifact } from '../artifact/load.ts'
import { schemaNameOf } from '../artifact/manifest-types.ts'
import type { SourceDecoder } from '../artifact/operators.ts'
import { SluiceError } from '../errors.ts'

export interface IngestStream {
  /** The source name: the `:source` of `/streams/:source/events`. */
  readonly name: string
  readonly topic: string
  /** The source's schema name, written to each record's `sluice.schema` header. */
  readonly schema: string
  /** A top-level field whose value keys (and so partitions) each record; null: round robin. */
  readonly keyField: string | null
  /** Every deployed reader of the source (usually one): an event must satisfy each. */
  readonly decoders: readonly { readonly decoder: SourceDecoder; isDecodeFailure(error: unknown): boolean }[]
}

/**
 * The streams of `artifacts`, by source name. Two artifacts may share a source name only when
 * they read the same topic; `keyFields` (source → field) sets a stream's record key.
 */
export function streamCatalog(
  artifacts: readonly LoadedArtifact[],
  keyFields: Readonly<Record<string, string>> = {},
): Map<string, IngestStream> {
  const streams = new Map<string, IngestStream>()
  for (const artifact of artifacts) {
    const { manifest, operators } = artifact
    for (const input of manifest.inputs) {
      if (input.connector.kind !== 'kafka') continue
      const decoder = operators.sources[input.source]
      if (decoder === undefined) {
        throw new SluiceError(
          'ARTIFACT_INVALID',
          `${artifact.dir}: source ${input.source} has no generated decoder in its module`,
        )
      }
      const schema = schemaNameOf(manifest, input.schema)
      const existing = streams.get(input.source)
      const reader = { decoder, isDecodeFailure: (error: unknown) => operators.isDecodeFailure(error) }
      if (existing) {
        if (existing.topic !== input.connector.topic) {
          throw new SluiceError(
            'CONFIG_INVALID',
            `source ${input.source} reads topic ${existing.topic} in one artifact and ${input.connector.topic} in ${manifest.name}: the gateway cannot tell where its events go`,
          )
        }
        ;(existing.decoders as unknown[]).push(reader)
        continue
      }
      streams.set(input.source, {
        name: input.source,
        topic: input.connector.topic,
        schema: schema ?? input.source,
        keyField: keyFields[input.source] ?? null,
        decoders: [reader],
      })
    }
  }
  for (const name of Object.keys(keyFields)) {
    if (!streams.has(name)) {
      throw new SluiceError(
        'CONFIG_INVALID',
        `a key field is set for stream ${name}, which no artifact has as a source (streams: ${[...streams.keys()].join(', ') || 'none'})`,
      )
    }
  }
  return streams
}
