/**
 * The runtime's reading of a Sink graph node's `name` and `recordTimestamp`: as the compiler
 * writes them, defaulted for artifacts compiled before sinks had them, refused when malformed;
 * and of a window node's `time` (processing-time windows, decision 0028).
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { contentHash } from '../../compiler/artifact/package.ts'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { isSluiceError } from '../errors.ts'
import { loadArtifact } from './load.ts'
import { type SinkGraphNode, validateManifest } from './manifest.ts'

const PIPE = `schema P { id: string, ts: timestamp @event_time }
source payments: P from kafka("payments")
stream large = payments | where id != ""
sink large -> kafka("large") timestamp append
sink large -> kafka("large-by-event-time")
sink payments -> stdout
`

type Json = Record<string, unknown>

function sinks(nodes: readonly { kind: string }[]): SinkGraphNode[] {
  return nodes.filter((n): n is SinkGraphNode => n.kind === 'Sink')
}

async function compiledManifest(): Promise<{ dir: string; manifest: Json }> {
  const dir = await compileFixture(PIPE, 'sinks')
  return { dir, manifest: JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Json }
}

/** The manifest as an older compiler wrote it: Sink nodes without `name` and `recordTimestamp`. */
function withoutSinkFields(manifest: Json): Json {
  const copy = structuredClone(manifest) as { graph: { nodes: Json[] } } & Json
  for (const node of copy.graph.nodes) {
    if (node.kind !== 'Sink') continue
    delete node.name
    delete node.recordTimestamp
  }
  return copy
}

function withSinkField(manifest: Json, key: string, value: unknown): Json {
  const copy = structuredClone(manifest) as { graph: { nodes: Json[] } } & Json
  const sink = copy.graph.nodes.find((n) => n.kind === 'Sink')!
  sink[key] = value
  return copy
}

function refusal(manifest: Json): string {
  try {
    validateManifest(manifest, 'manifest.json')
  } catch (error) {
    if (isSluiceError(error, 'ARTIFACT_INVALID')) return error.message
    throw error
  }
  throw new Error('the manifest was accepted')
}

describe('Sink graph nodes in the manifest', () => {
  it('carry the sunk stream name and the record timestamp the .pipe chose', async () => {
    const { dir } = await compiledManifest()
    const { manifest } = await loadArtifact(dir)
    expect(sinks(manifest.graph.nodes).map((s) => [s.id, s.name, s.recordTimestamp])).toEqual([
      ['sink#1', 'large', 'append'],
      ['sink#2', 'large', 'event'],
      ['sink#3', 'payments', 'event'],
    ])
  })

  it('default to the node id and event time in an artifact compiled before sinks had them', async () => {
    const { manifest } = await compiledManifest()
    const old = withoutSinkFields(manifest)
    const before = structuredClone(old)
    const validated = validateManifest(old, 'manifest.json')
    expect(sinks(validated.graph.nodes).map((s) => [s.id, s.name, s.recordTimestamp])).toEqual([
      ['sink#1', 'sink#1', 'event'],
      ['sink#2', 'sink#2', 'event'],
      ['sink#3', 'sink#3', 'event'],
    ])
    // The content hash is computed over the manifest as written, so validation must not fill it in.
    expect(old).toEqual(before)
  })

  it('load from disk in an older artifact, whose content hash covers the manifest without them', async () => {
    const { dir, manifest } = await compiledManifest()
    const { contentHash: _written, ...old } = withoutSinkFields(manifest)
    const files = new Map<string, string>()
    for (const name of ['operators.mjs', 'operators.generated.ts', 'operators.mjs.map']) {
      files.set(name, await readFile(join(dir, name), 'utf8'))
    }
    const hash = contentHash(old as unknown as Parameters<typeof contentHash>[0], files)
    await writeFile(join(dir, 'manifest.json'), JSON.stringify({ ...old, contentHash: hash }, null, 2))
    const loaded = await loadArtifact(dir)
    expect(loaded.manifest.contentHash).toBe(hash)
    expect(sinks(loaded.manifest.graph.nodes).map((s) => [s.name, s.recordTimestamp])).toEqual([
      ['sink#1', 'event'],
      ['sink#2', 'event'],
      ['sink#3', 'event'],
    ])
  })

  it('refuse a record timestamp this runtime does not know, rather than write the wrong one', async () => {
    const { manifest } = await compiledManifest()
    expect(refusal(withSinkField(manifest, 'recordTimestamp', 'log-append'))).toBe(
      'manifest.json: sink sink#1 has recordTimestamp "log-append", which this runtime does not know (it knows "event" and "append")',
    )
    expect(refusal(withSinkField(manifest, 'recordTimestamp', null))).toMatch(/recordTimestamp null/)
  })

  it('refuse a name that is not a non-empty string', async () => {
    const { manifest } = await compiledManifest()
    for (const name of ['', 42, null]) {
      expect(refusal(withSinkField(manifest, 'name', name))).toBe(
        `manifest.json: sink sink#1 has name ${JSON.stringify(name)}; a sink's name must be a non-empty string`,
      )
    }
  })

  it('refuse a graph node that is not an object', async () => {
    const { manifest } = await compiledManifest()
    const copy = structuredClone(manifest) as { graph: { nodes: unknown[] } } & Json
    copy.graph.nodes.push(null)
    expect(refusal(copy)).toBe('manifest.json: a graph node is not a JSON object')
  })
})

describe('Window graph nodes in the manifest', () => {
  const WINDOWS = `schema P { k: string, ts: timestamp @event_time }
source ps: P from kafka("ps")
stream by_clock = ps | aggregate by k window tumbling 1m processing time { n: count() }
stream by_event = ps | aggregate by k window tumbling 1m { n: count() }
sink by_clock -> stdout
sink by_event -> stdout
`
  const windowsOf = (manifest: Json) =>
    (manifest as { graph: { nodes: Json[] } }).graph.nodes.filter((n) => n.kind === 'WindowAggregate')

  it('carry time "processing" only for a processing-time window, and refuse a time this runtime does not know', async () => {
    const dir = await compileFixture(WINDOWS, 'windows')
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Json
    expect(windowsOf(manifest).map((n) => n.time)).toEqual(['processing', undefined])
    expect(() => validateManifest(manifest, 'manifest.json')).not.toThrow()
    const copy = structuredClone(manifest)
    windowsOf(copy)[1]!.time = 'ingestion'
    expect(refusal(copy)).toMatch(/has time "ingestion", which this runtime does not know/)
  })
})
