/**
 * CheckpointOptions.capturesOnPrepare on the embedded log (embedded/checkpoints.ts): under
 * at-least-once, a checkpoint whose prepare is still writing does not stop the partition's
 * batches; it commits the positions as of its start, the next checkpoint waits for it, and its
 * failure ends the subscription.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { logScratch } from '../../test/support/log-scratch.ts'
import { EmbeddedLog } from './embedded.ts'
import type { CheckpointOptions, Subscription } from './index.ts'

const { newDir } = logScratch('sluice-overlapped-checkpoint')

let log: EmbeddedLog
let subscription: Subscription | null = null
afterEach(async () => {
  await subscription?.stop().catch(() => {})
  subscription = null
  await log?.close()
})

async function filled(records: number, idleWakeMs?: number): Promise<void> {
  log = await EmbeddedLog.open(await newDir(), { durability: 'none', ...(idleWakeMs ? { idleWakeMs } : {}) })
  await log.ensureTopic('in')
  await log.append(
    'in',
    Array.from({ length: records }, (_, i) => ({ key: null, value: Buffer.from(String(i)) })),
  )
}

/** Checkpoint hooks that capture on prepare, due at once, with `prepare` and `committed` of the test. */
function capturingHooks(
  prepare: CheckpointOptions['prepare'],
  committed: CheckpointOptions['committed'] = async () => {},
): CheckpointOptions {
  return {
    intervalMs: 0,
    capturesOnPrepare: true,
    assigned: async () => {},
    prepare,
    committed,
    revoked: () => {},
  }
}

/** A promise a prepare waits on, and what releases it. */
function gate(): { readonly opened: Promise<void>; readonly open: () => void } {
  let open: () => void = () => {}
  const opened = new Promise<void>((r) => {
    open = r
  })
  return { opened, open }
}

describe('embedded log, checkpoints that capture on prepare', () => {
  it('runs batches while a prepare writes, and commits the positions as of its start', async () => {
    await filled(50)
    let handled = 0
    const events: string[] = []
    const positions: number[] = []
    const firstPrepare = gate()
    let prepares = 0
    const hooks = capturingHooks(
      async () => {
        const n = ++prepares
        positions.push(handled)
        events.push(`prepare ${n}`)
        if (n === 1) await firstPrepare.opened
        return `epoch-${n}`
      },
      async (_t, _p, metadata) => {
        events.push(`committed ${metadata}`)
      },
    )
    subscription = await log.subscribe(
      { group: 'g', topics: ['in'], checkpoint: hooks, fromBeginning: true, maxBatchRecords: 5 },
      async (batch) => {
        handled += batch.records.length
        events.push(`batch ${batch.records[0]!.offset}`)
        if (handled === 25) firstPrepare.open()
      },
    )
    for (let i = 0; i < 500 && handled < 50; i++) await new Promise((r) => setTimeout(r, 10))
    await subscription.stop()
    subscription = null
    // Batches ran between the first prepare and its commit.
    const first = events.indexOf('prepare 1')
    const firstCommitted = events.indexOf('committed epoch-1')
    expect(events.slice(first, firstCommitted).filter((e) => e.startsWith('batch')).length).toBeGreaterThan(0)
    // Never two checkpoints at once: each prepare follows the commit before it.
    for (let n = 2; n <= prepares; n++) {
      expect(events.indexOf(`prepare ${n}`)).toBeGreaterThan(events.indexOf(`committed epoch-${n - 1}`))
    }
    // The first checkpoint committed the position it started at, not the one it ended at:
    // reopening its epoch's offsets is what a crash right after it would resume from.
    expect(positions[0]).toBe(5)
    expect(handled).toBe(50)
    expect(await log.committedOffsets('g', 'in')).toEqual([50])
    expect(await log.committedMetadata('g', 'in', 0)).toBe(`epoch-${prepares}`)
  })

  it('a checkpoint that completes while the caught-up loop sleeps wakes it for the next one (issue 13)', async () => {
    // The safety net that wakes an idle subscription is set out of reach: only the completion of
    // the background checkpoint can get the last batches' offsets committed. Without that wake
    // the loop slept (nextDue skips a task whose checkpoint is pending) until the safety net, so
    // a caught-up partition's final commit came up to idleWakeMs late.
    await filled(20, 600_000)
    let handled = 0
    const firstPrepare = gate()
    const allCommitted = gate()
    let prepares = 0
    const hooks = capturingHooks(async () => {
      const n = ++prepares
      if (n === 1) await firstPrepare.opened
      return `epoch-${n}`
    })
    subscription = await log.subscribe(
      {
        group: 'g',
        topics: ['in'],
        checkpoint: hooks,
        fromBeginning: true,
        maxBatchRecords: 5,
        onCommitted: ({ offset }) => {
          if (offset === 20) allCommitted.open()
        },
      },
      async (batch) => {
        handled += batch.records.length
        // The first checkpoint (after the first batch) is still writing when the last batch is
        // handled; it completes once the loop has run out of records and gone to sleep.
        if (handled === 20) setTimeout(firstPrepare.open, 20)
      },
    )
    await allCommitted.opened
    expect(handled).toBe(20)
    expect(prepares).toBe(2)
    expect(await log.committedOffsets('g', 'in')).toEqual([20])
    expect(await log.committedMetadata('g', 'in', 0)).toBe('epoch-2')
  })

  it('a prepare that fails in the background ends the subscription without committing it', async () => {
    await filled(40)
    const failure = new Error('prepare failed on purpose')
    let prepares = 0
    const hooks = capturingHooks(async () => {
      prepares++
      await new Promise((r) => setTimeout(r, 5))
      if (prepares === 2) throw failure
      return `epoch-${prepares}`
    })
    subscription = await log.subscribe(
      { group: 'g', topics: ['in'], checkpoint: hooks, fromBeginning: true, maxBatchRecords: 5 },
      async () => {},
    )
    await expect(subscription.done).rejects.toBe(failure)
    subscription = null
    expect(await log.committedMetadata('g', 'in', 0)).toBe('epoch-1')
    expect((await log.committedOffsets('g', 'in'))[0]).toBeLessThan(40)
  })
})
