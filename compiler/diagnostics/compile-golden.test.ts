/**
 * Golden tests of the diagnostics only `sluice compile` reports, after checking: where windows and
 * patterns run (E0412, E0473, W0007). For every `specs/diagnostics/compile/<name>.pipe`, what
 * compile prints (no color) must equal `<name>.expected`. The first line of each case says how it
 * is compiled, as a command: `// sluice compile [--window-execution E] [--cep-execution E]`,
 * optionally followed by `, with the WebAssembly kernels not built`, which this test simulates by
 * reading no kernel (whether they are built here depends on `npm run build:wasm`, not on the case).
 * Run with `UPDATE_GOLDEN=1` to rewrite the expected files, then review the diff.
 */
import { readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { vi } from 'vitest'
import { describeGoldenCases } from '../../test/support/golden-cases.ts'
import { type CompileOptions, compileSource } from '../compile.ts'
import { formatDiagnostics } from './format.ts'

const kernels = vi.hoisted(() => ({ built: true }))
vi.mock('../artifact/kernels.ts', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../artifact/kernels.ts')>()
  return { ...actual, readKernel: (name: string) => (kernels.built ? actual.readKernel(name) : null) }
})

const root = fileURLToPath(new URL('../..', import.meta.url))
const dir = join(root, 'specs', 'diagnostics', 'compile')

const EXECUTIONS = ['auto', 'wasm', 'typescript'] as const
type Execution = (typeof EXECUTIONS)[number]

/** The options and kernel availability the case's first line asks for. */
function howCompiled(firstLine: string): { options: CompileOptions; kernelsBuilt: boolean } {
  const match =
    /^\/\/ sluice compile((?: --[a-z-]+ [a-z]+)*)(, with the WebAssembly kernels not built)?$/.exec(firstLine)
  if (match === null)
    throw new Error(`the first line must be "// sluice compile [flags]…", got: ${firstLine}`)
  const flags = match[1]!.trim().split(/\s+/).filter(Boolean)
  const options: { windowExecution?: Execution; cepExecution?: Execution } = {}
  for (let i = 0; i < flags.length; i += 2) {
    const value = flags[i + 1] as Execution
    if (!EXECUTIONS.includes(value)) throw new Error(`unknown execution ${value}`)
    if (flags[i] === '--window-execution') options.windowExecution = value
    else if (flags[i] === '--cep-execution') options.cepExecution = value
    else throw new Error(`unknown flag ${flags[i]}`)
  }
  return { options, kernelsBuilt: match[2] === undefined }
}

function renderCase(pipePath: string): string {
  const file = relative(root, pipePath)
  const text = readFileSync(pipePath, 'utf8')
  const { options, kernelsBuilt } = howCompiled(text.split('\n', 1)[0]!)
  kernels.built = kernelsBuilt
  try {
    const result = compileSource(file, text, options)
    const printed = formatDiagnostics(result.diagnostics, new Map([[file, text]]), { color: false })
    // Messages name the kernel by its absolute path, which depends on the checkout.
    const rendered = printed.replaceAll(root, '<repo>/')
    const outcome = result.artifact === null ? 'no artifact' : 'artifact written'
    return `${rendered}${rendered === '' ? '' : '\n'}(${outcome})\n`
  } finally {
    kernels.built = true
  }
}

describeGoldenCases(
  'compile diagnostics golden files (specs/diagnostics/compile)',
  dir,
  { moreThan: 0 },
  renderCase,
)
