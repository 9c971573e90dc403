/**
 * How long fdatasync takes on a directory's disk: the floor under every acknowledgement that waits
 * for a sync (the embedded log's `batch` durability). Used by the gateway benchmarks to say why an
 * ack p99 target is or is not reachable on the machine that ran them.
 */
import { closeSync, fdatasyncSync, openSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'

export interface Quantiles {
  readonly p50: number
  readonly p99: number
  readonly max: number
  readonly count: number
}

/** Nearest-rank quantiles of `values` (any unit). */
export function quantiles(values: readonly number[]): Quantiles {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
  return { p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? 0, count: sorted.length }
}

/**
 * ns per fdatasync after each write of `size` bytes in a file under `dir`: at the end of a file
 * that grows (as the log appends), or with `ahead` into zeros written and synced first (the
 * preallocation Kafka and PostgreSQL's WAL use, so a sync need not flush the file's size too).
 */
export function syncLatencies(dir: string, size: number, ahead: boolean, count: number): number[] {
  const file = join(dir, `sync-${size}-${ahead}-${process.pid}`)
  const fd = openSync(file, 'w+')
  try {
    const data = Buffer.alloc(size, 0x61)
    if (ahead) {
      const zeros = Buffer.alloc(1 << 20)
      for (let at = 0; at < size * count; at += zeros.length) writeSync(fd, zeros, 0, zeros.length, at)
      fdatasyncSync(fd)
    }
    const took: number[] = []
    for (let i = 0; i < count; i++) {
      writeSync(fd, data, 0, size, i * size)
      const start = process.hrtime.bigint()
      fdatasyncSync(fd)
      took.push(Number(process.hrtime.bigint() - start))
    }
    return took
  } finally {
    closeSync(fd)
    rmSync(file, { force: true })
  }
}
