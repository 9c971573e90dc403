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
