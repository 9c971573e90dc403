/**
 * Bundles the TypeScript modules of a pipeline's imported functions into one self-contained ES
 * module (`udfs.mjs` in the artifact) that exports each function under its name: whatever the
 * modules import is bundled with them, so the artifact runs where the sources are not. Paths in
 * the output are relative to the .pipe's directory, so the bundle (and the artifact's content
 * hash, which covers it) depends on the code, not on where it was compiled.
 */
import { resolve } from 'node:path'
import { buildSync } from 'esbuild'
import type { Pipeline } from '../ir/types.ts'

export const UDF_BUNDLE_FILE = 'udfs.mjs'

/** The bundle's text, or null when the pipeline imports no function. Throws esbuild's error. */
export function bundleUdfs(pipeline: Pipeline, baseDir: string): string | null {
  const udfs = Object.values(pipeline.udfs ?? {})
  if (udfs.length === 0) return null
  const entry = udfs
    .map((udf) => `export { ${udf.name} } from ${JSON.stringify(resolve(baseDir, udf.module))}`)
    .join('\n')
  const result = buildSync({
    stdin: { contents: entry, resolveDir: baseDir, sourcefile: 'udfs-entry.ts', loader: 'ts' },
    absWorkingDir: baseDir,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'es2022',
    write: false,
    legalComments: 'none',
    logLevel: 'silent',
  })
  return result.outputFiles[0]!.text
}
