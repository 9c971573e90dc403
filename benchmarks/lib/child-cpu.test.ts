import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { takeCpuReport, withCpuReport } from './child-cpu.ts'

function run(script: string): string {
  const child = spawnSync(process.execPath, ['-e', script], {
    env: withCpuReport(process.env),
    encoding: 'utf8',
  })
  expect(child.status).toBe(0)
  return child.stderr
}

describe('the CPU time of a child process', () => {
  it("is reported at exit, and the child's own stderr is kept as it was", () => {
    const { cpuMs, stderr } = takeCpuReport(
      run('process.stderr.write("first\\nsecond\\n"); let x = 0; for (let i = 0; i < 5e6; i++) x += i'),
    )
    expect(cpuMs).toBeGreaterThan(0)
    expect(stderr).toBe('first\nsecond\n')
  })

  it('is refused when missing, rather than read as zero', () => {
    expect(() => takeCpuReport('no report here\n')).toThrow(/no CPU report/)
  })
})
