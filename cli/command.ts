/** A CLI command: its own help text and a run function that returns the exit code. */
export interface Command {
  readonly name: string
  readonly summary: string
  readonly help: string
  run(argv: readonly string[], io: CommandIO): Promise<number>
}

export interface CommandIO {
  stdout(text: string): void
  /** Writes bytes to stdout as they are (`consume` prints a record that is not UTF-8 unchanged). */
  stdoutBytes?(bytes: Uint8Array): void
  stderr(text: string): void
  /** Whether stderr is a terminal that shows colour. */
  readonly color: boolean
  /** Resolves when the user asks the process to stop (SIGINT/SIGTERM). */
  readonly interrupted: Promise<void>
}

/**
 * A command as the registry lists it: what `sluice --help` shows, and a `load` that imports the
 * command's module only when it runs. Importing every command up front loaded the compiler
 * (ts-morph) and the Kafka, Redis and metrics clients for `sluice --version`.
 */
export interface CommandEntry {
  readonly name: string
  /** The command's `summary`, repeated here so the listing needs no import (a test keeps them equal). */
  readonly summary: string
  /** Takes --log-format: its errors, too, are written in the chosen format. */
  readonly logging: boolean
  load(): Promise<Command>
}
