/**
 * `sluice`: the one place that sees both the compiler and the runtime. Commands live in
 * cli/commands/, one per file; this file only dispatches and turns errors into messages and exit
 * codes (2: usage, 1: failure), never stack traces (set SLUICE_DEBUG=1 to see them).
 */
import { readFileSync } from 'node:fs'
import { isSluiceError } from '../runtime/errors.ts'
import { formatLogRecord } from '../runtime/observability/logger.ts'
import { logFormat, logFormatInArgv, type TerminalAwareIO, UsageError } from './args.ts'
import type { Command, CommandEntry, CommandIO } from './command.ts'

/**
 * Every command, in `--help` order. Each loads with a dynamic import of a literal path, which the
 * precompiled bundle (scripts/build-cli.mjs) turns into a chunk of its own: a command's
 * dependencies load only when it runs.
 */
export const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'check',
    summary: 'type-check .pipe files and print every error with file:line:col and a caret',
    logging: false,
    load: async () => (await import('./commands/check.ts')).check,
  },
  {
    name: 'compile',
    summary: 'compile a .pipe file into an artifact directory',
    logging: false,
    load: async () => (await import('./commands/compile.ts')).compile,
  },
  {
    name: 'run',
    summary: 'run a compiled artifact against the embedded log or Kafka',
    logging: true,
    load: async () => (await import('./commands/run.ts')).run,
  },
  {
    name: 'explain',
    summary: 'show, for one key of a match step over recorded events, what its pattern did with each',
    logging: false,
    load: async () => (await import('./commands/explain.ts')).explain,
  },
  {
    name: 'serve',
    summary: 'run a long-lived node: the event gateway and pipelines, in one process',
    logging: true,
    load: async () => (await import('./commands/serve.ts')).serve,
  },
  {
    name: 'produce',
    summary: 'append JSON lines from a file or stdin to a topic',
    logging: true,
    load: async () => (await import('./commands/produce.ts')).produce,
  },
  {
    name: 'consume',
    summary: 'print the records of a topic',
    logging: true,
    load: async () => (await import('./commands/consume.ts')).consume,
  },
  {
    name: 'log',
    summary: 'verify or repair an embedded data directory (damaged segments, offsets files)',
    logging: false,
    load: async () => (await import('./commands/log.ts')).log,
  },
]

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
    stdoutBytes: (bytes) => {
      if (!stdoutClosed) process.stdout.write(bytes)
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
  const entry = COMMANDS.find((c) => c.name === name)
  if (!entry) {
    io.stderr(`sluice: unknown command "${name}"\n\n${usage()}`)
    return 2
  }
  // Loaded outside the try below: a module that fails to load is a defect to see with its stack,
  // not a command failure to word as one.
  const command: Command = await entry.load()
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(`${command.help}\n`)
    return 0
  }
  try {
    return await command.run(rest, io)
  } catch (error) {
    if (process.env.SLUICE_DEBUG) io.stderr(`${(error as Error)?.stack ?? String(error)}\n`)
    const json = entry.logging && errorFormat(rest, io) === 'json'
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
