import { execFileSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { EmbeddedLog } from '../runtime/log/embedded.ts'
import { runCli } from '../test/support/capture-io.ts'
import type * as OpenLog from './open-log.ts'

// `sluice produce` on a full disk must say exactly what the log holds and where to resume, so a
// rerun adds no duplicates. A real full file system where this machine lets us mount a small
// tmpfs; always through a seam that fails segment writes with ENOSPC once a byte budget is spent.

let writeBudget: number | null = null

vi.mock('./open-log.ts', async (importOriginal) => {
  const original = await importOriginal<typeof OpenLog>()
  const openLog: typeof original.openLog = async (options, mode = {}) => {
    if (writeBudget === null) return original.openLog(options, mode)
    const dir = options['data-dir']!
    const log = await EmbeddedLog.open(dir, {
      beforeWrite: (_file, bytes) => {
        if (writeBudget === null) return
        writeBudget -= bytes
        if (writeBudget < 0) {
          throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
        }
      },
    })
    return { log, describe: `embedded log in ${dir}` }
  }
  return { ...original, openLog }
})

const dirs: string[] = []
afterEach(async () => {
  writeBudget = null
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

async function newDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-produce-full-'))
  dirs.push(dir)
  return dir
}

/** n JSON lines, with a blank line after every 100th (blank lines are skipped, but counted). */
async function inputFile(dir: string, n: number, padding: number): Promise<string> {
  const lines: string[] = []
  for (let i = 0; i < n; i++) {
    lines.push(JSON.stringify({ i, pad: 'x'.repeat(padding) }))
    if (i % 100 === 99) lines.push('')
  }
  const file = path.join(dir, 'input.jsonl')
  await writeFile(file, `${lines.join('\n')}\n`)
  return file
}

async function valuesIn(dataDir: string): Promise<number[]> {
  const log = await EmbeddedLog.openReadOnly(dataDir)
  try {
    const out: number[] = []
    for (let from = 0; ; ) {
      const records = await log.read('t', 0, from, 1000)
      if (records.length === 0) return out
      for (const r of records) out.push((JSON.parse(r.value.toString()) as { i: number }).i)
      from = records.at(-1)!.offset + 1
    }
  } finally {
    await log.close()
  }
}

/**
 * A data directory on a file system with `bytes` of room: a real tmpfs when mounting is
 * permitted (root in a container that allows it), else the write seam with that budget.
 */
async function fillingDisk(
  bytes: number,
): Promise<{ dir: string; free(): Promise<void>; cleanup(): Promise<void> }> {
  const dir = await newDir()
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'ignore' })
  } catch {
    writeBudget = bytes
    return {
      dir,
      free: async () => {
        writeBudget = null
      },
      cleanup: async () => {},
    }
  }
  return {
    dir,
    free: async () => {
      execFileSync('mount', ['-o', `remount,size=${16 * bytes}`, dir])
    },
    cleanup: async () => {
      execFileSync('umount', [dir])
    },
  }
}

function resumeLine(stderr: string): number {
  const match = /Resume with --from-line (\d+)/.exec(stderr)
  expect(match, stderr).not.toBeNull()
  return Number(match![1])
}

describe('sluice produce on a full disk (defect 8)', () => {
  it('reports the records durably appended and the line to resume from; resuming adds no duplicates', async () => {
    const dir = await newDir()
    const data = path.join(dir, 'data')
    const input = await inputFile(dir, 3500, 40)
    await runCli('produce', 't', '--data-dir', data, '--file', '/dev/null') // creates the topic
    // Two and a half appends: each is one record batch frame of 1000 records of 63..67 bytes (a
    // 57..60-byte value and 5 or 6 bytes of varints), about 65 to 67 kB.
    writeBudget = 2500 * 66
    const failed = await runCli('produce', 't', '--data-dir', data, '--file', input, '--log-format', 'text')
    expect(failed.code).toBe(1)
    expect(failed.stderr).toMatch(
      /error\[LOG_DISK_FULL\]: disk full while writing .*00000000000000000000\.seg \(ENOSPC\)/,
    )
    expect(failed.stderr).toContain(
      'stopped: 2000 records durably appended (input lines 1..2020), nothing after that',
    )
    const from = resumeLine(failed.stderr)
    expect(from).toBe(2021)
    writeBudget = null
    expect(await valuesIn(data)).toEqual([...Array(2000).keys()])

    const resumed = await runCli(
      'produce',
      't',
      '--data-dir',
      data,
      '--file',
      input,
      '--from-line',
      String(from),
    )
    expect(resumed.code, resumed.stderr).toBe(0)
    expect(resumed.stderr).toContain('1500 records appended')
    expect(await valuesIn(data)).toEqual([...Array(3500).keys()])
  })

  it('on a file system that fills up: a small tmpfs where this machine lets us mount one, else the seam', async () => {
    const disk = await fillingDisk(512 * 1024)
    try {
      const input = await inputFile(await newDir(), 6000, 200)
      const failed = await runCli(
        'produce',
        't',
        '--data-dir',
        disk.dir,
        '--file',
        input,
        '--log-format',
        'text',
      )
      expect(failed.code).toBe(1)
      expect(failed.stderr).toMatch(/error\[LOG_DISK_FULL\]: disk full while .*\(ENOSPC\)/)
      const appended = Number(/stopped: (\d+) records durably appended/.exec(failed.stderr)?.[1])
      expect(appended).toBeGreaterThan(0)
      expect(await valuesIn(disk.dir)).toEqual([...Array(appended).keys()])
      await disk.free()
      const from = String(resumeLine(failed.stderr))
      const resumed = await runCli(
        'produce',
        't',
        '--data-dir',
        disk.dir,
        '--file',
        input,
        '--from-line',
        from,
      )
      expect(resumed.code, resumed.stderr).toBe(0)
      expect(await valuesIn(disk.dir)).toEqual([...Array(6000).keys()])
    } finally {
      await disk.cleanup()
    }
  })
})
