import type { CommandIO } from '../../cli/command.ts'
import { main } from '../../cli/main.ts'

/** Runs `sluice <argv>` in-process with captured stdout/stderr and no colour; never interrupted. */
export async function runCli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const io: CommandIO = {
    stdout: (text) => {
      stdout += text
    },
    stderr: (text) => {
      stderr += text
    },
    color: false,
    interrupted: new Promise(() => {}),
  }
  const code = await main(argv, io)
  return { code, stdout, stderr }
}

/** `runCli`, for a command that must succeed: its stdout, or an error with its exit code and stderr. */
export async function runCliOk(...argv: string[]): Promise<string> {
  const { code, stdout, stderr } = await runCli(...argv)
  if (code !== 0) throw new Error(`sluice ${argv.join(' ')} exited with ${code}: ${stderr}`)
  return stdout
}
