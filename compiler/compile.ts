/**
 * The compiler's one entry point: `.pipe` text → checked IR → optimised IR → generated module →
 * artifact. Each stage reports progress so the CLI can show it; diagnostics stop the pipeline
 * before code generation, which only ever sees a checked program.
 */
import { readFileSync } from 'node:fs'
import { basename, extname } from 'node:path'
import { stdlib } from '../stdlib/index.ts'
import { kernelPath, readKernel, WINDOW_KERNEL } from './artifact/kernels.ts'
import { type Artifact, packageArtifact } from './artifact/package.ts'
import { generateModule } from './codegen/generate.ts'
import { createDiagnostic } from './diagnostics/diagnostic.ts'
import { type Diagnostic, hasErrors } from './diagnostics/index.ts'
import { checkSource } from './frontend.ts'
import type { Pipeline, WindowAggregateNode } from './ir/types.ts'
import { optimise } from './passes/optimise.ts'

export const COMPILER_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version

export type CompileStage = 'check' | 'optimise' | 'codegen' | 'package'

export interface CompileOptions {
  /** The artifact's name; defaults to the file name without `.pipe`. */
  readonly name?: string
  /**
   * Where windowed aggregates keep their accumulators: `wasm` (the WebAssembly kernel, the
   * default when it is built), `typescript` (typed arrays), or `auto`.
   */
  readonly windowExecution?: 'auto' | 'wasm' | 'typescript'
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
  const optimised = stage('optimise', () => optimise(checkedPipeline))
  const {
    pipeline,
    kernels,
    diagnostics: executionDiagnostics,
  } = chooseWindowExecution(optimised, options.windowExecution ?? 'auto')
  if (hasErrors(executionDiagnostics)) {
    return { artifact: null, pipeline: null, diagnostics: [...checked.diagnostics, ...executionDiagnostics] }
  }
  const module = stage('codegen', () => generateModule(pipeline, stdlib, COMPILER_VERSION))
  const artifact = stage('package', () =>
    packageArtifact({
      name: options.name ?? basename(file, extname(file)),
      compilerVersion: COMPILER_VERSION,
      sourceFile: file,
      sourceText: text,
      pipeline,
      module,
      kernels,
    }),
  )
  return { artifact, pipeline, diagnostics: [...checked.diagnostics, ...executionDiagnostics] }
}

/**
 * Picks where each windowed aggregate runs. Every window aggregate the language has is numeric, so
 * the WebAssembly kernel can run them all; `auto` uses it when it is built and otherwise falls back
 * to typed arrays with a warning (W0007); `wasm` without a built kernel is an error.
 */
function chooseWindowExecution(
  pipeline: Pipeline,
  choice: 'auto' | 'wasm' | 'typescript',
): { pipeline: Pipeline; kernels: ReadonlyMap<string, Uint8Array>; diagnostics: Diagnostic[] } {
  // Sessions merge windows and count windows count events, which the columnar kernel of time
  // windows does not: they always run in TypeScript.
  const onTypeScriptOnly = (n: WindowAggregateNode) =>
    n.window.kind === 'session' || n.window.kind === 'count'
  const windows = pipeline.nodes.filter(
    (n): n is WindowAggregateNode => n.kind === 'WindowAggregate' && !onTypeScriptOnly(n),
  )
  const kernels = new Map<string, Uint8Array>()
  const diagnostics: Diagnostic[] = []
  const sessionsOnTypeScript: Pipeline = {
    ...pipeline,
    nodes: pipeline.nodes.map((n) =>
      n.kind === 'WindowAggregate' && onTypeScriptOnly(n) ? { ...n, execution: 'typescript' } : n,
    ),
  }
  if (windows.length === 0) return { pipeline: sessionsOnTypeScript, kernels, diagnostics }
  const kernel = choice === 'typescript' ? null : readKernel(WINDOW_KERNEL)
  if (kernel === null && choice !== 'typescript') {
    const [first] = windows
    diagnostics.push(
      createDiagnostic(
        choice === 'wasm' ? 'E0412' : 'W0007',
        `the WebAssembly window kernel is not built (${kernelPath(WINDOW_KERNEL)}): run \`npm run build:wasm\`${choice === 'wasm' ? '' : '; the windows run on typed arrays in TypeScript instead'}`,
        first!.span,
      ),
    )
  }
  const execution = kernel === null ? 'typescript' : 'wasm'
  if (kernel !== null) kernels.set(WINDOW_KERNEL, kernel)
  return {
    pipeline: {
      ...sessionsOnTypeScript,
      nodes: sessionsOnTypeScript.nodes.map((n) =>
        n.kind === 'WindowAggregate' && !onTypeScriptOnly(n) ? { ...n, execution } : n,
      ),
    },
    kernels,
    diagnostics,
  }
}

