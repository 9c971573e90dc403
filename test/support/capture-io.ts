import type { CommandIO } from '../../cli/command.ts'
import { main } from '../../cli/main.ts'

/** Runs `sluice <argv>` in-process with captured stdout/stderr and no colour; never interrupted. */
export async function runCli(
  ...argv: string[]
): Promise<{ code: number; stdout: string; stdoutBytes: Buffer; stderr: string }> {
  const chunks: Buffer[] = []
  let stderr = ''
  const io: CommandIO = {
    stdout: (text) => {
      chunks.push(Buffer.from(text))
    },
    stdoutBytes: (bytes) => {
      chunks.push(Buffer.from(bytes))
    },
    stderr: (text) => {
      stderr += text
    },
    color: false,
    interrupted: new Promise(() => {}),
  }
  const code = await main(argv, io)
  const stdoutBytes = Buffer.concat(chunks)
  return { code, stdout: stdoutBytes.toString('utf8'), stdoutBytes, stderr }
}

/** `runCli`, for a command that must succeed: its stdout, or an error with its exit code and stderr. */
export async function runCliOk(...argv: string[]): Promise<string> {
  const { code, stdout, stderr } = await runCli(...argv)
  if (code !== 0) throw new Error(`sluice ${argv.join(' ')} exited with ${code}: ${stderr}`)
  return stdout
}
