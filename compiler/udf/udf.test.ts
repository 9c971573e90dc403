/**
 * Imported functions in the artifact: the bundle is part of what the content hash covers, so a
 * changed function gives a new artifact id, while the same code compiled in another directory
 * gives the same one (the bundle holds no absolute path).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { compileSource } from '../compile.ts'
import { UDF_BUNDLE_FILE } from './bundle.ts'

const PIPE = `import function double(x: f64): f64 from "./udf.ts"
schema E { id: string, x: f64 }
source events: E from kafka("events")
stream doubled = events | select { id, y: double(x) }
sink doubled -> kafka("doubled")
`

const dirs: string[] = []
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
})

/** Compiles PIPE next to a udf.ts of `code` in a fresh directory. */
async function compileWith(code: string) {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-udf-'))
  dirs.push(dir)
  await writeFile(join(dir, 'udf.ts'), code)
  // The .pipe's name is part of the manifest: the same name in both directories.
  const result = compileSource('double.pipe', PIPE, { name: 'double', udfBaseDir: dir })
  if (!result.artifact) throw new Error(result.diagnostics.map((d) => d.message).join('\n'))
  return result.artifact
}

describe('imported functions in the artifact', () => {
  it('ships one bundle and changes the artifact id when the function changes', async () => {
    const first = await compileWith('export function double(x: number): number { return x * 2 }\n')
    const changed = await compileWith('export function double(x: number): number { return x + x + 0 }\n')
    expect(first.files.get(UDF_BUNDLE_FILE)).toContain('x * 2')
    expect(first.manifest.files.udfs).toBe(UDF_BUNDLE_FILE)
    expect(changed.manifest.contentHash).not.toBe(first.manifest.contentHash)
  })

  it('gives the same artifact id for the same code compiled elsewhere', async () => {
    const code = 'export function double(x: number): number { return x * 2 }\n'
    const a = await compileWith(code)
    const b = await compileWith(code)
    expect(b.files.get(UDF_BUNDLE_FILE)).toBe(a.files.get(UDF_BUNDLE_FILE))
    expect(b.manifest.contentHash).toBe(a.manifest.contentHash)
  })
})
