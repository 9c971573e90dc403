import { readFile } from 'node:fs/promises'
import { formatDiagnostics, hasErrors, MAX_SHOWN_DIAGNOSTICS } from '../../compiler/diagnostics/index.ts'
import { checkSource } from '../../compiler/frontend.ts'
import { firstInvalidUtf8 } from '../../runtime/text/utf8.ts'
import { parse, UsageError } from '../args.ts'
import type { Command } from '../command.ts'

/** How diagnostics and the manifest name a source read from standard input. */
export const STDIN_NAME = '<stdin>'

export const check: Command = {
  name: 'check',
  summary: 'type-check .pipe files and print every error with file:line:col and a caret',
  help: `Usage: sluice check FILE.pipe...

Parses and type-checks each file and prints all diagnostics (errors and warnings), each with
file:line:col, the source line and a caret under the problem. Exits 1 if any file has an error.
A FILE of - reads the standard input (shown as ${STDIN_NAME}).

Options:
  --no-color            plain output even on a terminal
  -h, --help            show this help`,
  async run(argv, io) {
    const { positionals, values } = parse(argv, { 'no-color': { type: 'boolean' } })
    if (positionals.length === 0) throw new UsageError('sluice check needs at least one .pipe file')
    if (positionals.filter((file) => file === '-').length > 1)
      throw new UsageError('- (standard input) can be given only once')
    let failed = false
    for (const given of positionals) {
      const file = sourceName(given)
      const text = await readSource(given)
      const { diagnostics } = checkSource(file, text)
      if (diagnostics.length > 0) {
        io.stderr(
          formatDiagnostics(diagnostics, new Map([[file, text]]), {
            color: io.color && !values['no-color'],
            maxShown: MAX_SHOWN_DIAGNOSTICS,
          }),
        )
      }
      if (hasErrors(diagnostics)) failed = true
      else io.stderr(`${file}: ok${diagnostics.length > 0 ? ' (with warnings)' : ''}\n`)
    }
    return failed ? 1 : 0
  },
}

/** The name a source is shown under: the path, or STDIN_NAME for `-`. */
export function sourceName(file: string): string {
  return file === '-' ? STDIN_NAME : file
}

/**
 * A .pipe file's text, or the standard input's for `-`. An unreadable file, and one that is not
 * UTF-8 text (a binary given by mistake gave 74,143 errors and 403 MB of output), is a usage error
 * naming the first offending byte.
 */
export async function readSource(file: string): Promise<string> {
  let bytes: Buffer
  try {
    bytes = file === '-' ? await readStdin() : await readFile(file)
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`)
  }
  const problem = notText(bytes)
  if (problem !== null) throw new UsageError(`${sourceName(file)} is not a .pipe text file: ${problem}`)
  return bytes.toString('utf8')
}

/** Why `bytes` is not UTF-8 text (a NUL byte, an invalid UTF-8 sequence), or null when it is. */
export function notText(bytes: Buffer): string | null {
  const nul = bytes.indexOf(0)
  if (nul >= 0) return `it holds a NUL byte at byte ${nul} (a binary file?)`
  const bad = firstInvalidUtf8(bytes)
  return bad < 0 ? null : `it is not valid UTF-8 (first bad byte at ${bad}); save it as UTF-8`
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)
  return Buffer.concat(chunks)
}
