/**
 * Test support: compiles `.pipe` text into an artifact directory, as `sluice compile` does, so
 * runtime tests run real generated code. Only tests import this (runtime/ itself never imports
 * compiler/; runtime/boundaries.test.ts checks that).
 */
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { writeArtifact } from '../../compiler/artifact/package.ts'
import { compileSource } from '../../compiler/compile.ts'

export async function compileFixture(
  text: string,
  name = 'fixture',
  file = 'fixture.pipe',
  options: { readonly udfBaseDir?: string; readonly windowExecution?: 'auto' | 'wasm' | 'typescript' } = {},
): Promise<string> {
  const result = compileSource(file, text, { name, ...options })
  if (!result.artifact) {
    throw new Error(
      `fixture does not compile:\n${result.diagnostics.map((d) => `${d.code} ${d.message}`).join('\n')}`,
    )
  }
  const dir = join(await mkdtemp(join(tmpdir(), 'sluice-artifact-')), name)
  await writeArtifact(result.artifact, dir)
  return dir
}
