/**
 * The compiler's one entry point: `.pipe` text → checked IR → optimised IR → generated module →
 * artifact. Each stage reports progress so the CLI can show it; diagnostics stop the pipeline
 * before code generation, which only ever sees a checked program.
 */
import { readFileSync } from 'node:fs'
import { basename, extname } from 'node:path'
import { stdlib } from '../stdlib/index.ts'
import { udfIsNullPropagating } from '../stdlib/udf.ts'
import { kernelPath, readKernel } from './artifact/kernels.ts'
import { type Artifact, packageArtifact } from './artifact/package.ts'
import { artifactSourceName, refileSpans } from './artifact/source-name.ts'
import { generateModule, type StdlibInfo } from './codegen/generate.ts'
import { createDiagnostic } from './diagnostics/diagnostic.ts'
import { type Diagnostic, hasErrors } from './diagnostics/index.ts'
import { checkSource } from './frontend.ts'
import type { MatchNode, Pipeline, WindowAggregateNode } from './ir/types.ts'
import { optimise } from './passes/optimise.ts'
import { bundleUdfs } from './udf/bundle.ts'
import { udfBaseDir } from './udf/typescript-check.ts'

/** What code generation needs to know of each imported function (stdlib/udf.ts binds them). */
function udfFunctionInfo(pipeline: Pipeline): Record<string, StdlibInfo> {
  const info: Record<string, StdlibInfo> = {}
  for (const udf of Object.values(pipeline.udfs ?? {}))
    info[udf.name] = { nullPropagating: udfIsNullPropagating(udf), mayFail: true }
  return info
}

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
  /**
   * Which engine steps the NFA of `match` steps whose conditions are all event-local: `wasm` (the
   * WebAssembly pattern kernel), `typescript`, or `auto` (the kernel when it is built). A match
   * whose conditions read earlier steps always runs in TypeScript.
   */
  readonly cepExecution?: 'auto' | 'wasm' | 'typescript'
  /** The directory the modules of `import function` are relative to (default: the .pipe's). */
  readonly udfBaseDir?: string
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
  const baseDir = options.udfBaseDir ?? udfBaseDir(file)
  const checked = stage('check', () => checkSource(file, text, { udfBaseDir: baseDir }))
  if (checked.pipeline === null || hasErrors(checked.diagnostics)) {
    return { artifact: null, pipeline: null, diagnostics: checked.diagnostics }
  }
  // Spans name the file by base name from here on, so the artifact id does not depend on the path given.
  const sourceName = artifactSourceName(file)
  const checkedPipeline = refileSpans(checked.pipeline, file, sourceName)
  const optimised = stage('optimise', () => optimise(checkedPipeline))
  const windowChoice = chooseWindowExecution(optimised, options.windowExecution ?? 'auto')
  const matchChoice = chooseMatchExecution(windowChoice.pipeline, options.cepExecution ?? 'auto')
  const pipeline = matchChoice.pipeline
  const kernels = new Map([...windowChoice.kernels, ...matchChoice.kernels])
  // Reported against the file as given, like the checker's diagnostics.
  const executionDiagnostics = refileSpans(
    [...windowChoice.diagnostics, ...matchChoice.diagnostics],
    sourceName,
    file,
  )
  if (hasErrors(executionDiagnostics)) {
    return { artifact: null, pipeline: null, diagnostics: [...checked.diagnostics, ...executionDiagnostics] }
  }
  let udfBundle: string | null
  try {
    udfBundle = bundleUdfs(pipeline, baseDir)
  } catch (error) {
    const first = Object.values(pipeline.udfs ?? {})[0]!
    const message = error instanceof Error ? error.message : String(error)
    return {
      artifact: null,
      pipeline: null,
      diagnostics: [
        ...checked.diagnostics,
        createDiagnostic(
          'E0368',
          `the TypeScript modules of the imported functions do not bundle: ${message}`,
          { ...first.span, file },
        ),
      ],
    }
  }
  const functions = { ...stdlib, ...udfFunctionInfo(pipeline) }
  const module = stage('codegen', () => generateModule(pipeline, functions, COMPILER_VERSION))
  const artifact = stage('package', () =>
    packageArtifact({
      name: options.name ?? basename(file, extname(file)),
      compilerVersion: COMPILER_VERSION,
      sourceFile: sourceName,
      sourceText: text,
      pipeline,
      module,
      kernels,
      udfBundle,
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

/**
 * Picks the engine of each `match` step (the one place it is chosen; the runner follows
 * `execution`). The checker marks a match `wasm` when every condition is event-local; this keeps
 * that when the pattern kernel is built (and `typescript` was not asked for), else it falls back
 * to the TypeScript NFA, with a warning under `auto` (W0007) and an error under `wasm` (E0412, or
 * E0473 for a match whose conditions read earlier steps).
 */
function chooseMatchExecution(
  pipeline: Pipeline,
  choice: 'auto' | 'wasm' | 'typescript',
): { pipeline: Pipeline; kernels: ReadonlyMap<string, Uint8Array>; diagnostics: Diagnostic[] } {
  const matches = pipeline.nodes.filter((n): n is MatchNode => n.kind === 'Match')
  const kernels = new Map<string, Uint8Array>()
  const diagnostics: Diagnostic[] = []
  if (choice === 'wasm') {
    for (const match of matches.filter((m) => m.execution !== 'wasm')) {
      const step = match.steps.find((s) => s.reads.length > 0)!
      diagnostics.push(
        createDiagnostic(
          'E0473',
          `the WebAssembly pattern kernel evaluates conditions ahead, one event at a time, but the condition of \`${step.name}\` reads the events of earlier steps; compile with \`--cep-execution auto\` to run this match in TypeScript`,
          step.span,
        ),
      )
    }
  }
  const local = matches.filter((m) => m.execution === 'wasm')
  const kernel = choice === 'typescript' || local.length === 0 ? null : readKernel(CEP_KERNEL)
  if (kernel === null && local.length > 0 && choice !== 'typescript') {
    diagnostics.push(
      createDiagnostic(
        choice === 'wasm' ? 'E0412' : 'W0007',
        `the WebAssembly pattern kernel is not built (${kernelPath(CEP_KERNEL)}): run \`npm run build:wasm\`${choice === 'wasm' ? '' : '; the patterns run on the TypeScript NFA instead'}`,
        local[0]!.span,
      ),
    )
  }
  if (kernel !== null) kernels.set(CEP_KERNEL, kernel)
  const execution = kernel === null ? 'typescript' : 'wasm'
  return {
    pipeline: {
      ...pipeline,
      nodes: pipeline.nodes.map((n) =>
        n.kind === 'Match' && n.execution === 'wasm' ? { ...n, execution } : n,
      ),
    },
    kernels,
    diagnostics,
  }
}

/** The kernel that pattern engines of event-local matches run (wasm/kernels/cep.ts). */
const CEP_KERNEL = 'cep'

/** The kernel that window operators run (wasm/kernels/window.ts). */
const WINDOW_KERNEL = 'window'
