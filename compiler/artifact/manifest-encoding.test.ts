/**
 * Issue 17, defect 1: records wrapped once per chained stream made the manifest grow with the cube
 * of the chain's length (93 MB for 150 streams, "Invalid string length" at 300) and the generated
 * code with its square. Types by reference make both linear; the runtime reads the references.
 */
import { describe, expect, it } from 'vitest'
import { validateManifest } from '../../runtime/artifact/manifest.ts'
import { schemaNameOf } from '../../runtime/artifact/manifest-types.ts'
import { GENERATED_FILE } from '../codegen/generate.ts'
import { compileSource } from '../compile.ts'
import { decodeManifestTypes } from './manifest-encoding.ts'
import { type Artifact, MANIFEST_FILE } from './package.ts'

/** The repro's wrapN.pipe: each stream wraps the previous stream's record in one more record. */
function wrapped(streams: number): string {
  const lines = [
    'schema E { a: i64 }',
    'source e: E from kafka("e")',
    'stream s0 = e | select { r: { x: a } }',
  ]
  for (let i = 1; i <= streams; i++) lines.push(`stream s${i} = s${i - 1} | select { r: { x: r } }`)
  lines.push(`sink s${streams} -> kafka("out")`)
  return `${lines.join('\n')}\n`
}

function compiled(text: string): Artifact {
  const result = compileSource('wrap.pipe', text)
  if (!result.artifact) throw new Error(result.diagnostics.map((d) => `${d.code} ${d.message}`).join('\n'))
  return result.artifact
}

const sizeOf = (artifact: Artifact, file: string): number => artifact.files.get(file)!.length

const RICH = `schema Item { sku: string, qty: i64 }
schema Order { id: string, ts: timestamp @event_time, items: list<Item>, note: string? }
source orders: Order from kafka("orders")
stream shaped = orders | select { id, box: { first: items[0], ts, note: { text: note } }, items }
sink shaped -> kafka("shaped")
`

describe('the manifest and the generated code of records wrapped through chained streams', () => {
  it('grow linearly: twice the streams, about twice the bytes', () => {
    const fifty = compiled(wrapped(50))
    const hundred = compiled(wrapped(100))
    // Quadratic growth gives about 4x, cubic 8x; linear 2x plus a constant part.
    expect(sizeOf(hundred, MANIFEST_FILE) / sizeOf(fifty, MANIFEST_FILE)).toBeLessThan(2.3)
    expect(sizeOf(hundred, GENERATED_FILE) / sizeOf(fifty, GENERATED_FILE)).toBeLessThan(2.3)
  })

  it('compile at 300 streams, the repro that ended in "Invalid string length"', () => {
    const artifact = compiled(wrapped(300))
    expect(sizeOf(artifact, MANIFEST_FILE)).toBeLessThan(2_000_000)
    const written = JSON.parse(artifact.files.get(MANIFEST_FILE)!) as Record<string, unknown>
    expect(validateManifest(written, MANIFEST_FILE).formatVersion).toBe(2)
  })
})

describe('manifest.json, format version 2', () => {
  const artifact = compiled(RICH)
  const written = JSON.parse(artifact.files.get(MANIFEST_FILE)!) as Record<string, unknown> & {
    types: Record<string, { name?: string }>
    inputs: { schema: unknown }[]
  }

  it('defines each record type once and refers to it by name', () => {
    expect(written.formatVersion).toBe(2)
    expect(Object.keys(written.types)).toEqual(expect.arrayContaining(['Item', 'Order']))
    expect(written.inputs[0]!.schema).toEqual({ kind: 'ref', name: 'Order' })
    // No record is spelled out outside the table.
    const { types: _types, ...rest } = written
    expect(JSON.stringify(rest)).not.toContain('"kind":"record"')
  })

  it('reads back, references resolved, as the manifest the compiler holds', () => {
    const { contentHash: _hash, ...decoded } = decodeManifestTypes(written)
    const { contentHash: _same, ...held } = artifact.manifest
    expect(JSON.parse(JSON.stringify(decoded))).toEqual(JSON.parse(JSON.stringify(held)))
  })

  it('gives the runtime the schema name of a source through its reference', () => {
    expect(schemaNameOf(written, written.inputs[0]!.schema)).toBe('Order')
  })

  it('is refused by the runtime when a reference names no type, or a type contains itself', () => {
    const dangling = structuredClone(written)
    dangling.inputs[0]!.schema = { kind: 'ref', name: 'Missing' }
    expect(() => validateManifest(dangling, 'm.json')).toThrow(
      'm.json: a type reference names "Missing", which "types" does not define',
    )
    const cyclic = structuredClone(written)
    cyclic.types.Item = {
      kind: 'record',
      fields: [{ name: 'self', type: { kind: 'ref', name: 'Item' } }],
    } as never
    expect(() => validateManifest(cyclic, 'm.json')).toThrow('m.json: type Item contains itself')
    const { types: _types, ...untyped } = written
    expect(() => validateManifest(untyped, 'm.json')).toThrow('m.json: missing "types"')
  })

  it('leaves version 1 manifests, types spelled out, readable by the runtime', () => {
    const v1: Record<string, unknown> = { ...decodeManifestTypes(written), formatVersion: 1 }
    expect(validateManifest(v1, 'm.json').formatVersion).toBe(1)
    expect(schemaNameOf(v1, (v1 as { inputs: { schema: unknown }[] }).inputs[0]!.schema)).toBe('Order')
  })
})
