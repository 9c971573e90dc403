import { readFile } from 'node:fs/promises'
import { formatDiagnostics, hasErrors } from '../../compiler/diagnostics/index.ts'
import { checkSource } from '../../compiler/frontend.ts'
import { parse, UsageError } from '../args.ts'
import type { Command } from '../command.ts'

export const check: Command = {
  name: 'check',
  summary: 'type-check .pipe files and print every error with file:line:col and a caret',
  help: `Usage: sluice check FILE.pipe...

Parses and type-checks each file and prints all diagnostics (errors and warnings), each with
file:line:col, the source line and a caret under the problem. Exits 1 if any file has an error.

Options:
  --no-color            plain output even on a terminal
  -h, --help            show this help`,
  async run(argv, io) {
    const { positionals, values } = parse(argv, { 'no-color': { type: 'boolean' } })
    if (positionals.length === 0) throw new UsageError('sluice check needs at least one .pipe file')
    let failed = false
    for (const file of positionals) {
      const text = await readSource(file)
      const { diagnostics } = checkSource(file, text)
      if (diagnostics.length > 0) {
        io.stderr(
          formatDiagnostics(diagnostics, new Map([[file, text]]), { color: io.color && !values['no-color'] }),
        )
      }
      if (hasErrors(diagnostics)) failed = true
      else io.stderr(`${file}: ok${diagnostics.length > 0 ? ' (with warnings)' : ''}\n`)
    }
    return failed ? 1 : 0
  },
}

export async function readSource(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`)
  }
}
