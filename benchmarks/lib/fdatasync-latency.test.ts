import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { quantiles, syncLatencies } from './fdatasync-latency.ts'

describe('quantiles', () => {
  it('takes nearest ranks of the sorted values', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i) // 100..1, unsorted
    expect(quantiles(values)).toEqual({ p50: 51, p99: 100, max: 100, count: 100 })
    expect(quantiles([])).toEqual({ p50: 0, p99: 0, max: 0, count: 0 })
  })
})

describe('syncLatencies', () => {
  const dirs: string[] = []
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
  })

  it('times one sync per write, growing or into zeros written ahead, and leaves no file behind', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-sync-'))
    dirs.push(dir)
    for (const ahead of [false, true]) {
      const took = syncLatencies(dir, 4096, ahead, 5)
      expect(took).toHaveLength(5)
      expect(took.every((ns) => Number.isInteger(ns) && ns > 0)).toBe(true)
    }
    expect(readdirSync(dir)).toEqual([])
  })
})
