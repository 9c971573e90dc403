/**
 * `sluice`: the one place that sees both the compiler and the runtime. Commands live in
 * cli/commands/, one per file; this file only dispatches and turns errors into messages and exit
 * codes (2: usage, 1: failure), never stack traces (set SLUICE_DEBUG=1 to see them).
 */
import { readFileSync } from 'node:fs'
import { isSluiceError } from '../runtime/errors.ts'
import { formatLogRecord } from '../runtime/observability/logger.ts'
import { logFormat, logFormatInArgv, type TerminalAwareIO, UsageError } from './args.ts'
import type { Command, CommandIO } from './command.ts'
import { check } from './commands/check.ts'
import { compile } from './commands/compile.ts'
import { consume } from './commands/consume.ts'
import { log } from './commands/log.ts'
import { produce } from './commands/produce.ts'
import { run } from './commands/run.ts'

export const COMMANDS: readonly Command[] = [check, compile, run, produce, consume, log]

/** Commands that take --log-format: their errors, too, are written in the chosen format. */
const LOGGING_COMMANDS: ReadonlySet<string> = new Set([run.name, produce.name, consume.name])

/** `sluice 0.1.0 (Node.js v20.19.0)`: the version in package.json and the runtime's. */
export function versionLine(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string
  }
  return `sluice ${pkg.version} (Node.js ${process.version})`
}

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length))
  return `Usage: sluice COMMAND [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run \`sluice COMMAND --help\` for a command's options; \`sluice --version\` prints the version.
`
}

export function processIO(): TerminalAwareIO {
  let stdoutClosed = false
  let interrupted: Promise<void> | null = null
  let resolveInterrupted: (() => void) | null = null
  const stop = () => {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
    resolveInterrupted?.()
  }
  // The reader of our stdout went away (`sluice consume t | head -2`): nobody wants more output,
  // so stop as on Ctrl-C, drop further writes, and exit quietly instead of crashing on EPIPE.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error
    stdoutClosed = true
    stop()
  })
  return {
    stdout: (text) => {
      if (!stdoutClosed) process.stdout.write(text)
    },
    stderr: (text) => process.stderr.write(text),
    color: process.stderr.isTTY === true && !process.env.NO_COLOR,
    stderrIsTerminal: process.stderr.isTTY === true,
    // Ctrl-C and SIGTERM are caught only once a command asks for them (run, produce, consume stop
    // cleanly). A command that never asks (check, compile) keeps Node's default and ends at once:
    // catching the signals for it made them ignored until it finished.
    get interrupted() {
      interrupted ??= new Promise<void>((resolve) => {
        resolveInterrupted = resolve
        process.on('SIGINT', stop)
        process.on('SIGTERM', stop)
      })
      return interrupted
    },
  }
}

export async function main(argv: readonly string[], io: CommandIO = processIO()): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(usage())
    return name === undefined ? 2 : 0
  }
  if (name === '--version' || name === '-V') {
    io.stdout(`${versionLine()}\n`)
    return 0
  }
  const command = COMMANDS.find((c) => c.name === name)
  if (!command) {
    io.stderr(`sluice: unknown command "${name}"\n\n${usage()}`)
    return 2
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(`${command.help}\n`)
    return 0
  }
  try {
    return await command.run(rest, io)
  } catch (error) {
    if (process.env.SLUICE_DEBUG) io.stderr(`${(error as Error)?.stack ?? String(error)}\n`)
    const json = LOGGING_COMMANDS.has(name) && errorFormat(rest, io) === 'json'
    if (error instanceof UsageError) {
      const message = `sluice ${name}: ${error.message}`
      io.stderr(
        json
          ? formatLogRecord('json', 'error', message, {
              command: name,
              code: 'USAGE',
              help: `sluice ${name} --help`,
            })
          : `${message}\nRun \`sluice ${name} --help\` for usage.\n`,
      )
      return 2
    }
    const code = isSluiceError(error) ? error.code : undefined
    const message = code
      ? `sluice ${name}: error[${code}]: ${(error as Error).message}`
      : `sluice ${name}: ${error instanceof Error ? error.message : String(error)}`
    io.stderr(
      json
        ? formatLogRecord('json', 'error', message, { command: name, code: code ?? null })
        : `${message}\n`,
    )
    return 1
  }
}

/** The log format a failed command's error is written in; text when even that was mistyped. */
function errorFormat(argv: readonly string[], io: CommandIO): 'json' | 'text' {
  try {
    return logFormat(logFormatInArgv(argv), io)
  } catch {
    return 'text'
  }
}
