/**
 * The runtime's reading of Lookup graph nodes: a compiled artifact with lookups loads, and a
 * manifest whose lookup names a table that `graph.tables` does not declare with a kafka topic is
 * refused when it is read, not when the first event reaches the lookup.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { isSluiceError } from '../errors.ts'
import { loadArtifact } from './load.ts'
import { validateManifest } from './manifest.ts'

const PIPE = `schema P { id: string, card: string }
schema C { number: string, holder: string }
source payments: P from kafka("payments")
table cards: C from kafka("cards") key by number
stream enriched = payments | lookup cards as c on card or null
sink enriched -> stdout
`

type Json = Record<string, unknown>

async function compiledManifest(): Promise<{ dir: string; manifest: Json }> {
  const dir = await compileFixture(PIPE, 'lookups')
  return { dir, manifest: JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Json }
}

function refusal(manifest: unknown): string {
  try {
    validateManifest(manifest, 'manifest.json')
  } catch (error) {
    if (isSluiceError(error, 'ARTIFACT_INVALID')) return error.message
    throw error
  }
  throw new Error('the manifest was accepted')
}

describe('lookups in the manifest', () => {
  it('load with their table, its topic and the module functions', async () => {
    const { dir } = await compiledManifest()
    const artifact = await loadArtifact(dir)
    const lookup = artifact.manifest.graph.nodes.find((n) => n.kind === 'Lookup')
    expect(lookup).toMatchObject({ kind: 'Lookup', table: 'cards', mode: 'left', asOf: null })
    expect(artifact.manifest.graph.tables?.cards?.connector).toEqual({ kind: 'kafka', topic: 'cards' })
    expect(typeof artifact.operators.lookups?.[lookup!.id]).toBe('function')
    expect(typeof artifact.operators.tables?.cards?.key).toBe('function')
  })

  it('are refused when their table is not declared with a kafka topic', async () => {
    const { manifest } = await compiledManifest()
    const graph = manifest.graph as { tables: Json }
    expect(refusal({ ...manifest, graph: { ...graph, tables: {} } })).toMatch(
      /lookup enriched#1 reads table cards, which "graph.tables" does not declare with a kafka topic/,
    )
    expect(
      refusal({ ...manifest, graph: { ...graph, tables: { cards: { connector: { kind: 'stdout' } } } } }),
    ).toMatch(/reads table cards/)
  })
})
