/**
 * Test support for the code generator's tests: compiles `.pipe` text, writes the artifact to a
 * temporary directory and imports its `operators.mjs`, as the runtime would. The compiler may not
 * import the runtime, so the shape of a generated module is declared here as the tests call it
 * (runtime/artifact/operators.ts declares the same).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { EvaluationError } from '../../stdlib/eval-error.ts'
import { stdlib } from '../../stdlib/index.ts'
import { compileSource } from '../compile.ts'
import type { Pipeline } from '../ir/types.ts'
import { GENERATED_FILE } from './generate.ts'

export interface Batch {
  values: unknown[]
  keys: (string | null)[]
  timestamps: number[]
  origins: number[]
  length: number
}

/** A stateful step's keyed state, as the runtime passes it to a chain (one per `state` slot). */
export interface StepState {
  clock: number
  readonly latenessMs: number
  get(key: string, now: number): unknown
  set(key: string, value: unknown, now: number): boolean
  findRow(key: string, now: number, layout: readonly ('number' | 'pair')[]): number
  setRow(key: string, now: number): boolean
  readonly rows: Float64Array
  readonly rowScratch: Float64Array
}

export interface Operators {
  chains: Record<
    string,
    (
      input: Batch,
      output: Batch,
      errors: { index: number; error: unknown; site: number }[],
      states?: readonly StepState[],
    ) => void
  >
  sources: Record<
    string,
    {
      decode(value: unknown): unknown
      decodeJson(bytes: Buffer): unknown
      eventTime: ((row: never) => number) | null
    }
  >
  sinks: Record<string, { encode(value: never): string }>
  isDecodeFailure(error: unknown): boolean
}

export interface LoadedModule {
  readonly operators: Operators
  readonly pipeline: Pipeline
  readonly typescript: string
  readonly sites: unknown[]
}

const dirs: string[] = []

/** Compiles and imports `text`; call `removeLoadedModules` after the tests. */
export async function compileAndLoad(text: string): Promise<LoadedModule> {
  const result = compileSource('test.pipe', text)
  if (!result.artifact || !result.pipeline) throw new Error(JSON.stringify(result.diagnostics, null, 2))
  const dir = await mkdtemp(join(tmpdir(), 'sluice-codegen-'))
  dirs.push(dir)
  for (const [name, content] of result.artifact.files) await writeFile(join(dir, name), content)
  for (const [name, content] of result.artifact.binaryFiles) await writeFile(join(dir, name), content)
  const module = (await import(pathToFileURL(join(dir, 'operators.mjs')).href)) as {
    instantiate(runtime: unknown): Operators
  }
  return {
    operators: module.instantiate({ stdlib, EvaluationError }),
    pipeline: result.pipeline,
    typescript: result.artifact.files.get(GENERATED_FILE)!,
    sites: result.artifact.manifest.sites as unknown[],
  }
}

export async function removeLoadedModules(): Promise<void> {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
}
