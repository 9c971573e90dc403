import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  chunkOfReference,
  decodeRowChunk,
  indexOfReference,
  RowChunks,
  rowChunkEntry,
  rowChunkOfEntry,
} from './row-chunks.ts'

/** What a checkpoint does to one key: keep some of its events (by position), add new ones, or empty it. */
interface KeyChange {
  readonly key: number
  readonly keep: readonly boolean[]
  readonly added: number
  /** Lists the first kept event twice (an event two steps took). */
  readonly duplicate: boolean
}

const change = fc.record({
  key: fc.integer({ min: 0, max: 11 }),
  // Mostly dropped: rows die while others of their chunk live on, which relocation is for.
  keep: fc.array(fc.constantFrom(true, false, false), { minLength: 1, maxLength: 8 }),
  added: fc.integer({ min: 0, max: 5 }),
  duplicate: fc.boolean(),
})

/** A checkpoint's changes, and whether the row chunks are then restored into a fresh RowChunks from the store. */
const plan = fc.array(fc.record({ changes: fc.array(change, { maxLength: 10 }), restore: fc.boolean() }), {
  minLength: 1,
  maxLength: 25,
})

function rowOfSeq(seq: number): string {
  return `row ${seq}`
}

describe('RowChunks (rows written once, referred to by key versions)', () => {
  test('every newest version resolves to its rows from the store as checkpoints compose it, across restores (property)', () => {
    let relocated = 0
    let restores = 0
    fc.assert(
      fc.property(plan, fc.integer({ min: 0, max: 6 }), (checkpoints, slack) => {
        let rows = new RowChunks(slack)
        const store = new Map<string, Buffer>()
        /** Per key: its newest version's events (seqs) and their references. */
        const versions = new Map<number, { seqs: number[]; references: number[] }>()
        const live = new Map<number, number[]>()
        let nextSeq = 0
        let chunk = 0
        let relocating = new Set<number>()
        const checkpoint = (changes: readonly KeyChange[]) => {
          rows.begin(chunk)
          const changed = new Map<number, number[]>()
          for (const { key, keep, added, duplicate } of changes) {
            const before = changed.get(key) ?? live.get(key) ?? []
            const after = before.filter((_, i) => keep[i % keep.length])
            for (let a = 0; a < added; a++) after.push(nextSeq++)
            if (duplicate && after.length > 0) after.push(after[0] as number)
            changed.set(key, after)
          }
          // Keys referring to a relocating row chunk are written again, changed or not.
          for (const key of relocating) if (!changed.has(key)) changed.set(key, live.get(key) ?? [])
          for (const [key, seqs] of changed) {
            if (seqs.length === 0) {
              rows.release(key)
              versions.delete(key)
              live.delete(key)
              continue
            }
            const references = rows.write(key, seqs, seqs.map(rowOfSeq))
            versions.set(key, { seqs, references: Array.from(references) })
            live.set(key, seqs)
          }
          const { put, removed, relocate } = rows.finish()
          if (put !== null) store.set(rowChunkEntry(chunk), put)
          for (const c of removed) {
            expect(store.has(rowChunkEntry(c))).toBe(true)
            store.delete(rowChunkEntry(c))
          }
          relocating = new Set(relocate >= 0 ? rows.keysReferring(relocate) : [])
          if (relocate >= 0) relocated++
          chunk++
        }
        const expectResolves = () => {
          const decoded = new Map<number, unknown[]>()
          for (const [name, bytes] of store) decoded.set(rowChunkOfEntry(name), decodeRowChunk(bytes))
          let references = 0
          for (const { seqs, references: refs } of versions.values()) {
            refs.forEach((reference, i) => {
              const rowsOfChunk = decoded.get(chunkOfReference(reference))
              expect(rowsOfChunk?.[indexOfReference(reference)]).toBe(rowOfSeq(seqs[i] as number))
            })
            references += refs.length
          }
          return { stored: [...decoded.values()].reduce((n, r) => n + r.length, 0), references }
        }
        for (const { changes, restore } of checkpoints) {
          checkpoint(changes)
          expectResolves()
          if (restore) {
            rows = new RowChunks(slack)
            for (const [name, bytes] of store)
              rows.restoredChunk(rowChunkOfEntry(name), decodeRowChunk(bytes).length)
            for (const [key, { seqs, references }] of versions) rows.restoredKey(key, seqs, references)
            restores++
          }
        }
        // With no more changes, relocations bring the store back within twice the live rows and the slack.
        for (let idle = 0; idle < 12; idle++) {
          checkpoint([])
          expectResolves()
        }
        const { stored, references } = expectResolves()
        expect(stored).toBeLessThanOrEqual(2 * references + slack)
      }),
      { numRuns: 300 },
    )
    // The property relocated row chunks and restored, or those paths could not have failed it.
    expect(relocated).toBeGreaterThan(0)
    expect(restores).toBeGreaterThan(0)
  })

  test('a key whose events stay refers to the rows written before: a checkpoint writes only new rows', () => {
    const rows = new RowChunks()
    rows.begin(0)
    expect(Array.from(rows.write(3, [10, 11], ['a', 'b']))).toEqual([0, 1])
    expect(decodeRowChunk(rows.finish().put as Buffer)).toEqual(['a', 'b'])
    rows.begin(1)
    const references = Array.from(rows.write(3, [11, 12], ['b', 'c']))
    expect(references.map(chunkOfReference)).toEqual([0, 1])
    const { put, removed } = rows.finish()
    expect(decodeRowChunk(put as Buffer)).toEqual(['c'])
    expect(removed).toEqual([])
    rows.begin(2)
    rows.release(3)
    expect(rows.finish()).toEqual({ put: null, removed: [0, 1], relocate: -1 })
  })
})
