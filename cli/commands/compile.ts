import { resolve } from 'node:path'
import { ArtifactOutputError, writeArtifact } from '../../compiler/artifact/package.ts'
import { type CompileStage, compileSource } from '../../compiler/compile.ts'
import { formatDiagnostics, MAX_SHOWN_DIAGNOSTICS } from '../../compiler/diagnostics/index.ts'
import { parse, UsageError } from '../args.ts'
import type { Command } from '../command.ts'
import { formatMs } from '../progress.ts'
import { readSource, sourceName } from './check.ts'

export const compile: Command = {
  name: 'compile',
  summary: 'compile a .pipe file into an artifact directory',
  help: `Usage: sluice compile FILE.pipe [-o DIR] [--name NAME]
       sluice compile - --name NAME [-o DIR]     (the .pipe text on standard input)

Checks the file, optimises the dataflow (pushes filters toward sources, fuses stateless
chains), generates the operator module and writes an immutable, content-addressed artifact:
manifest.json, operators.generated.ts, operators.mjs and a source map to the .pipe.

Options:
  -o, --out DIR         artifact directory (default: dist/<name>); it must be new, empty or an
                        earlier artifact, and neither the current directory nor one above the .pipe
  --name NAME           artifact name (default: the file name without .pipe)
  --replace             replace DIR even when it holds the artifact of another pipeline
  --window-execution E  where windowed aggregates keep their accumulators: wasm (the WebAssembly
                        kernel, shipped in the artifact), typescript (typed arrays), or auto
                        (default: wasm when the kernel is built, else typescript with a warning);
                        session and count windows always run in typescript
  --cep-execution E     which engine steps the patterns of \`match\` steps whose conditions read
                        only the current event: wasm (the WebAssembly pattern kernel), typescript
                        (the TypeScript NFA), or auto (default: wasm when the kernel is built, else
                        typescript with a warning); patterns that read earlier steps run in typescript
  --no-color            plain diagnostics
  -h, --help            show this help`,
  async run(argv, io) {
    const { positionals, values } = parse(argv, {
      out: { type: 'string', short: 'o' },
      name: { type: 'string' },
      replace: { type: 'boolean' },
      'window-execution': { type: 'string' },
      'cep-execution': { type: 'string' },
      'no-color': { type: 'boolean' },
    })
    const windowExecution = values['window-execution'] ?? 'auto'
    if (windowExecution !== 'auto' && windowExecution !== 'wasm' && windowExecution !== 'typescript') {
      throw new UsageError(`--window-execution must be wasm, typescript or auto, got "${windowExecution}"`)
    }
    const cepExecution = values['cep-execution'] ?? 'auto'
    if (cepExecution !== 'auto' && cepExecution !== 'wasm' && cepExecution !== 'typescript') {
      throw new UsageError(`--cep-execution must be wasm, typescript or auto, got "${cepExecution}"`)
    }
    if (positionals.length !== 1) throw new UsageError('sluice compile takes exactly one .pipe file')
    const given = positionals[0]!
    if (given === '-' && !values.name) {
      throw new UsageError(
        'compile - reads the .pipe from standard input, which has no file name to name the artifact after: give --name NAME',
      )
    }
    const file = sourceName(given)
    const text = await readSource(given)
    const labels: Record<CompileStage, string> = {
      check: 'parse and type-check',
      optimise: 'optimise dataflow',
      codegen: 'generate operators',
      package: 'transpile and package',
    }
    const result = compileSource(file, text, {
      ...(values.name ? { name: values.name } : {}),
      windowExecution,
      cepExecution,
      onProgress: ({ stage, phase, ms }) => {
        if (phase === 'start') io.stderr(`  ${labels[stage]} …`)
        else io.stderr(` done (${formatMs(ms ?? 0)})\n`)
      },
    })
    if (result.diagnostics.length > 0) {
      io.stderr(
        `\n${formatDiagnostics(result.diagnostics, new Map([[file, text]]), {
          color: io.color && !values['no-color'],
          maxShown: MAX_SHOWN_DIAGNOSTICS,
        })}`,
      )
    }
    if (!result.artifact) {
      io.stderr('\n')
      return 1
    }
    const out = resolve(values.out ?? `dist/${result.artifact.manifest.name}`)
    try {
      await writeArtifact(result.artifact, out, {
        sourceFile: file,
        replaceOtherPipeline: values.replace === true,
      })
    } catch (error) {
      // A refused -o directory is the user's choice to change, not a failure of the compiler.
      if (error instanceof ArtifactOutputError) throw new UsageError(error.message)
      throw error
    }
    const { manifest } = result.artifact
    const chains = manifest.graph.nodes.filter((n) => n.kind === 'Fused')
    const windows = manifest.graph.nodes.filter((n) => n.kind === 'WindowAggregate')
    // Sessions and count windows run on typed arrays beside kernel windows.
    const onKernel = windows.filter((w) => w.execution === 'wasm').length
    const onTypedArrays = windows.length - onKernel
    const windowNote =
      windows.length === 0
        ? ''
        : onTypedArrays === 0 || onKernel === 0
          ? `, ${windows.length} window(s) on ${onKernel > 0 ? 'the WebAssembly kernel' : 'typed arrays'}`
          : `, ${windows.length} window(s) (${onKernel} on the WebAssembly kernel, ${onTypedArrays} on typed arrays)`
    const matches = manifest.graph.nodes.filter((n) => n.kind === 'Match')
    const matchNote = matches.length === 0 ? '' : `, ${matches.length} match step(s)`
    io.stderr(
      `compiled ${file} → ${out}\n  ${manifest.contentHash}\n  ${manifest.inputs.length} source(s), ${chains.length} fused chain(s)${windowNote}${matchNote}, ${manifest.outputs.length} sink(s)\n`,
    )
    return 0
  },
}
