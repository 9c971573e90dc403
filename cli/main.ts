/**
 * `sluice`: the one place that sees both the compiler and the runtime. Commands live in
 * cli/commands/, one per file; this file only dispatches and turns errors into messages and exit
 * codes (2: usage, 1: failure), never stack traces (set SLUICE_DEBUG=1 to see them).
 */
import { isSluiceError } from '../runtime/errors.ts'
import { UsageError } from './args.ts'
import type { Command, CommandIO } from './command.ts'
import { check } from './commands/check.ts'
import { compile } from './commands/compile.ts'
import { consume } from './commands/consume.ts'
import { produce } from './commands/produce.ts'
import { run } from './commands/run.ts'

export const COMMANDS: readonly Command[] = [check, compile, run, produce, consume]

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length))
  return `Usage: sluice COMMAND [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run \`sluice COMMAND --help\` for a command's options.
`
}

export function processIO(): CommandIO {
  let stdoutClosed = false
  const interrupted = new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      resolve()
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
    // The reader of our stdout went away (`sluice consume t | head -2`): nobody wants more output,
    // so stop as on Ctrl-C, drop further writes, and exit quietly instead of crashing on EPIPE.
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error
      stdoutClosed = true
      stop()
    })
  })
  return {
    stdout: (text) => {
      if (!stdoutClosed) process.stdout.write(text)
    },
    stderr: (text) => process.stderr.write(text),
    color: process.stderr.isTTY === true && !process.env.NO_COLOR,
    interrupted,
  }
}

export async function main(argv: readonly string[], io: CommandIO = processIO()): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(usage())
    return name === undefined ? 2 : 0
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
    if (error instanceof UsageError) {
      io.stderr(`sluice ${name}: ${error.message}\nRun \`sluice ${name} --help\` for usage.\n`)
      return 2
    }
    if (isSluiceError(error)) {
      io.stderr(`sluice ${name}: error[${error.code}]: ${error.message}\n`)
      return 1
    }
    io.stderr(`sluice ${name}: ${error instanceof Error ? error.message : String(error)}\n`)
    return 1
  }
}
