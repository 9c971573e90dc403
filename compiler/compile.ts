/**
 * The compiler's one entry point: `.pipe` text → checked IR → optimised IR → generated module →
 * artifact. Each stage reports progress so the CLI can show it; diagnostics stop the pipeline
 * before code generation, which only ever sees a checked program.
 */
import { readFileSync } from 'node:fs'
import { basename, extname } from 'node:path'
import { stdlib } from '../stdlib/index.ts'
import { type Artifact, packageArtifact } from './artifact/package.ts'
import { generateModule } from './codegen/generate.ts'
import { type Diagnostic, hasErrors } from './diagnostics/index.ts'
import { checkSource } from './frontend.ts'
import type { Pipeline } from './ir/types.ts'
import { optimise } from './passes/optimise.ts'

export const COMPILER_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version

export type CompileStage = 'check' | 'optimise' | 'codegen' | 'package'

export interface CompileOptions {
  /** The artifact's name; defaults to the file name without `.pipe`. */
  readonly name?: string
  /** Called when a stage starts and when it ends (with its duration). */
  readonly onProgress?: (event: { stage: CompileStage; phase: 'start' | 'end'; ms?: number }) => void
}

export interface CompileResult {
  /** Null when there were errors. */
  readonly artifact: Artifact | null
  /** The IR after optimisation (null when there were errors). */
  readonly pipeline: Pipeline | null
  readonly diagnostics: readonly Diagnostic[]
}

export function compileSource(file: string, text: string, options: CompileOptions = {}): CompileResult {
  const stage = <T>(name: CompileStage, run: () => T): T => {
    options.onProgress?.({ stage: name, phase: 'start' })
    const started = performance.now()
    const result = run()
    options.onProgress?.({ stage: name, phase: 'end', ms: performance.now() - started })
    return result
  }
  const checked = stage('check', () => checkSource(file, text))
  if (checked.pipeline === null || hasErrors(checked.diagnostics)) {
    return { artifact: null, pipeline: null, diagnostics: checked.diagnostics }
  }
  const checkedPipeline = checked.pipeline
  const pipeline = stage('optimise', () => optimise(checkedPipeline))
  const module = stage('codegen', () => generateModule(pipeline, stdlib, COMPILER_VERSION))
  const artifact = stage('package', () =>
    packageArtifact({
      name: options.name ?? basename(file, extname(file)),
      compilerVersion: COMPILER_VERSION,
      sourceFile: file,
      sourceText: text,
      pipeline,
      module,
    }),
  )
  return { artifact, pipeline, diagnostics: checked.diagnostics }
}
