/** A CLI command: its own help text and a run function that returns the exit code. */
export interface Command {
  readonly name: string
  readonly summary: string
  readonly help: string
  run(argv: readonly string[], io: CommandIO): Promise<number>
}

export interface CommandIO {
  stdout(text: string): void
  stderr(text: string): void
  /** Whether stderr is a terminal that shows colour. */
  readonly color: boolean
  /** Resolves when the user asks the process to stop (SIGINT/SIGTERM). */
  readonly interrupted: Promise<void>
}
