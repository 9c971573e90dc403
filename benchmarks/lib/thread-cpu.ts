import { readFile } from 'node:fs/promises'

/**
 * User + system CPU seconds of this process's main thread so far (Linux: /proc/self/task/<pid>/stat,
 * in clock ticks of 10 ms; NaN elsewhere). process.cpuUsage() counts every thread, so work moved
 * off the event loop (the compaction thread, libuv's file writes, GC helpers) shows only here.
 */
export async function mainThreadCpuSeconds(): Promise<number> {
  try {
    const stat = await readFile(`/proc/self/task/${process.pid}/stat`, 'utf8')
    // Fields after the command (which may hold spaces) in parentheses; utime and stime are the 14th and 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return Number.NaN
  }
}
