import { randomBytes } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isSluiceError } from '../errors.ts'
import { expectCode, sleep, waitFor } from './conformance-support.ts'
import type {
  CheckpointOptions,
  Delivery,
  Log,
  LogRecord,
  RecordBatch,
  SubscribeOptions,
  Subscription,
} from './index.ts'

/**
 * The checkpoint and exactly-once tests every Log implementation must pass (the contract is in
 * index.ts: CheckpointOptions, Delivery, RecordBatch.transaction, committedMetadata). Run by
 * embedded-checkpoint.test.ts and by the Kafka integration tests, so written like conformance.ts
 * for a shared, persistent broker: random topic and group names, timing only through `waitFor`
 * with generous timeouts, and subscriptions stopped before `cleanup` even when a test failed.
 */
export interface CheckpointTarget {
  readonly log: Log
  cleanup(): Promise<void>
  /**
   * The process holding `log` dies now: nothing it has not committed may be committed later, and
   * nothing of it runs any more as far as the storage can tell (an embedded data directory is
   * copied as it is on disk; a Kafka client is abandoned without aborting or committing). Returns
   * a log on that storage as a restarted process opens it. The test stops using the old log; it
   * may still release a handler of the old log that is blocked, which must then not commit.
   */
  crash(): Promise<Log>
}

export function checkpointConformance(name: string, open: () => Promise<CheckpointTarget>): void {
  describe(`Log checkpoint conformance: ${name}`, () => {
    let target: CheckpointTarget
    let log: Log
    let running: Subscription[] = []
    /** Gates a test left closed; opened before clean-up so no handler stays blocked. */
    let gates: Gate[] = []

    beforeEach(async () => {
      target = await open()
      log = target.log
      running = []
      gates = []
    }, HOOK_TIMEOUT)

    afterEach(async () => {
      for (const gate of gates) gate.open()
      await Promise.allSettled(running.map((s) => s.stop()))
      await target.cleanup()
    }, HOOK_TIMEOUT)

    function gate(): Gate {
      const g = newGate()
      gates.push(g)
      return g
    }

    async function topicWith(partitions: number, on: Log = log): Promise<string> {
      const topic = unique('t')
      await on.ensureTopic(topic, { partitions })
      return topic
    }

    async function fill(topic: string, n: number, prefix: string, partitions = 1, on: Log = log) {
      await on.append(
        topic,
        Array.from({ length: n }, (_, i) => ({
          key: null,
          value: Buffer.from(`${prefix}-${i}`),
          partition: i % partitions,
        })),
      )
    }

    /**
     * A checkpointed subscription whose handler appends one output per input record (value
     * `out:<input value>`) through the batch's transaction, recording every hook and batch.
     */
    async function checkpointed(
      options: {
        readonly group: string
        readonly topic: string
        readonly out: string
        readonly delivery: Delivery
        readonly intervalMs: number
        readonly transactionalId?: string
        readonly maxBatchRecords?: number
        readonly fromBeginning?: boolean
        /** Runs after the batch's outputs were appended; a rejection fails the batch. */
        readonly afterAppend?: (batch: RecordBatch) => Promise<void>
        readonly prepare?: (topic: string, partition: number, n: number) => Promise<string>
      },
      on: Log = log,
    ) {
      const recorder = new HookRecorder()
      const appended: number[] = []
      let prepared = 0
      const hooks: CheckpointOptions = {
        intervalMs: options.intervalMs,
        ...(options.transactionalId === undefined ? {} : { transactionalId: options.transactionalId }),
        assigned: (topic, partition, metadata) =>
          recorder.run({ kind: 'assigned', topic, partition, metadata }, async () => {}),
        prepare: (topic, partition) => {
          const n = ++prepared
          return recorder.run({ kind: 'prepare', topic, partition }, async () =>
            options.prepare === undefined ? `epoch-${n}` : options.prepare(topic, partition, n),
          )
        },
        committed: (topic, partition, metadata) =>
          recorder.run({ kind: 'committed', topic, partition, metadata }, async () => {}),
        revoked: (topic, partition) => {
          recorder.events.push({ kind: 'revoked', topic, partition, at: Date.now() })
        },
      }
      const subscribeOptions: SubscribeOptions = {
        group: options.group,
        topics: [options.topic],
        delivery: options.delivery,
        checkpoint: hooks,
        fromBeginning: options.fromBeginning ?? true,
        ...(options.maxBatchRecords === undefined ? {} : { maxBatchRecords: options.maxBatchRecords }),
      }
      const subscription = await on.subscribe(subscribeOptions, (batch) =>
        recorder.run(
          {
            kind: 'batch',
            topic: batch.topic,
            partition: batch.partition,
            offsets: batch.records.map((r) => r.offset),
          },
          async () => {
            expect(batch.transaction, 'a checkpointed batch carries its transaction').toBeDefined()
            const positions = await batch.transaction!.append(
              options.out,
              batch.records.map((r) => ({ key: r.key, value: Buffer.from(`out:${r.value.toString()}`) })),
            )
            appended.push(...positions.map((p) => p.offset))
            await options.afterAppend?.(batch)
          },
        ),
      )
      running.push(subscription)
      return { subscription, recorder, appended }
    }

    for (const delivery of ['at-least-once', 'exactly-once'] as const) {
      const txn = (): { transactionalId?: string } =>
        delivery === 'exactly-once' ? { transactionalId: unique('txn') } : {}

      describe(delivery, () => {
        it(
          'runs assigned, batches, prepare/committed and revoked in order, serialised per partition',
          async () => {
            const topic = await topicWith(2)
            const out = await topicWith(2)
            const group = unique('g')
            await fill(topic, 40, 'in', 2)
            const { subscription, recorder } = await checkpointed({
              group,
              topic,
              out,
              delivery,
              intervalMs: 30,
              maxBatchRecords: 3,
              ...txn(),
            })
            await waitFor(() => recorder.handled(topic) >= 40, 'all 40 records handled')
            await subscription.stop()
            await expect(subscription.done).resolves.toBeUndefined()

            expect(recorder.overlaps, 'a hook or the handler ran while another of its partition did').toBe(0)
            for (const partition of [0, 1]) {
              const events = recorder.of(topic, partition)
              expect(events[0]).toMatchObject({ kind: 'assigned', metadata: null })
              expect(events.filter((e) => e.kind === 'assigned')).toHaveLength(1)
              expect(events.at(-1)!.kind).toBe('revoked')
              expect(events.at(-2)!.kind).toBe('committed')
              // Every prepare is followed by its committed, with what prepare returned, before
              // anything else of the partition runs.
              for (let i = 0; i < events.length; i++) {
                if (events[i]!.kind !== 'prepare') continue
                expect(events[i + 1]).toMatchObject({ kind: 'committed', metadata: events[i]!.result })
              }
              const offsets = events.flatMap((e) => e.offsets ?? [])
              expect(offsets).toEqual(range(0, 20))
              const lastMetadata = events.at(-2)!.metadata
              expect(await log.committedMetadata(group, topic, partition)).toBe(lastMetadata)
            }
            expect(await log.committedOffsets(group, topic)).toEqual([20, 20])
            const outputs = await readAll(log, out, 2)
            expect(outputs.map((r) => r.value.toString()).sort()).toEqual(
              Array.from({ length: 40 }, (_, i) => `out:in-${i}`).sort(),
            )
          },
          TEST_TIMEOUT,
        )

        it(
          'commits metadata with the offset, and the next subscriber is assigned it',
          async () => {
            const topic = await topicWith(1)
            const out = await topicWith(1)
            const group = unique('g')
            const transactional = txn()
            expect(await log.committedMetadata(group, topic, 0)).toBeNull()
            await fill(topic, 5, 'a')
            const first = await checkpointed({
              group,
              topic,
              out,
              delivery,
              intervalMs: 60_000,
              ...transactional,
              prepare: async () => 'state at epoch 1 ✓ "quoted"',
            })
            await waitFor(() => first.recorder.handled(topic) >= 5, 'the first 5 records')
            await first.subscription.stop()
            expect(await log.committedMetadata(group, topic, 0)).toBe('state at epoch 1 ✓ "quoted"')
            expect(await log.committedOffsets(group, topic)).toEqual([5])

            await fill(topic, 2, 'b')
            const second = await checkpointed({
              group,
              topic,
              out,
              delivery,
              intervalMs: 60_000,
              ...transactional,
            })
            await waitFor(() => second.recorder.handled(topic) >= 2, 'the 2 new records')
            expect(second.recorder.of(topic, 0)[0]).toMatchObject({
              kind: 'assigned',
              metadata: 'state at epoch 1 ✓ "quoted"',
            })
            expect(second.recorder.of(topic, 0)[1]!.offsets).toEqual([5, 6])
            await second.subscription.stop()
            expect(await log.committedMetadata(group, topic, 0)).toBe('epoch-1')
            expect(await log.committedOffsets(group, topic)).toEqual([7])

            // A group that commits without checkpoints stores no metadata.
            const plain = unique('g')
            const records: LogRecord[] = []
            const subscription = await log.subscribe({ group: plain, topics: [topic] }, async (batch) => {
              records.push(...batch.records)
            })
            running.push(subscription)
            await waitFor(() => records.length >= 7, 'the plain group to read 7 records')
            await subscription.stop()
            expect(await log.committedOffsets(plain, topic)).toEqual([7])
            expect(await log.committedMetadata(plain, topic, 0)).toBeNull()
          },
          TEST_TIMEOUT,
        )

        it(
          'commits at most every intervalMs while running, and on stop()',
          async () => {
            const topic = await topicWith(1)
            const out = await topicWith(1)
            const group = unique('g')
            await fill(topic, 10, 'a')
            const slow = await checkpointed({
              group,
              topic,
              out,
              delivery,
              intervalMs: 60_000,
              maxBatchRecords: 2,
              ...txn(),
            })
            await waitFor(() => slow.recorder.handled(topic) >= 10, 'the 10 records')
            await sleep(500)
            expect(slow.recorder.count('prepare')).toBe(0)
            expect(await log.committedOffsets(group, topic)).toEqual([-1])
            await slow.subscription.stop()
            expect(slow.recorder.count('prepare')).toBe(1)
            expect(slow.recorder.count('committed')).toBe(1)
            expect(await log.committedOffsets(group, topic)).toEqual([10])

            // A short interval commits while records keep coming, never more often than asked.
            const fast = await checkpointed({ group, topic, out, delivery, intervalMs: 200, ...txn() })
            const until = Date.now() + 1500
            let sent = 0
            while (Date.now() < until) {
              await log.append(topic, [{ key: null, value: Buffer.from(`b-${sent++}`), partition: 0 }])
              await sleep(20)
            }
            await waitFor(() => fast.recorder.handled(topic) >= sent, 'every record sent')
            const beforeStop = fast.recorder.events.filter((e) => e.kind === 'committed').length
            expect(beforeStop).toBeGreaterThanOrEqual(2)
            const prepares = fast.recorder.events.filter((e) => e.kind === 'prepare').map((e) => e.at)
            for (let i = 1; i < prepares.length; i++)
              expect(prepares[i]! - prepares[i - 1]!).toBeGreaterThanOrEqual(200 - CLOCK_JITTER_MS)
            expect(fast.recorder.count('batch')).toBeGreaterThan(prepares.length)
            await fast.subscription.stop()
            expect(await log.committedOffsets(group, topic)).toEqual([10 + sent])
          },
          TEST_TIMEOUT,
        )

        it(
          'commits a partition that went idle with handled batches, without stop()',
          async () => {
            const topic = await topicWith(1)
            const out = await topicWith(1)
            const group = unique('g')
            await fill(topic, 5, 'a')
            const { recorder } = await checkpointed({
              group,
              topic,
              out,
              delivery,
              intervalMs: 300,
              ...txn(),
            })
            await waitFor(() => recorder.count('committed') >= 1, 'a commit of the idle partition')
            const assigned = recorder.events.find((e) => e.kind === 'assigned')!.at
            const prepare = recorder.events.find((e) => e.kind === 'prepare')!.at
            expect(prepare - assigned).toBeGreaterThanOrEqual(300 - CLOCK_JITTER_MS)
            expect(await log.committedOffsets(group, topic)).toEqual([5])
            expect(await log.committedMetadata(group, topic, 0)).toBe('epoch-1')
            // Nothing new: no further commits.
            await sleep(700)
            expect(recorder.count('prepare')).toBe(1)
          },
          TEST_TIMEOUT,
        )

        it(
          'ticks a quiet task that had a batch (no records, its transaction), never one that had none; what a tick appends commits',
          async () => {
            const topic = await topicWith(2)
            const out = await topicWith(1)
            const group = unique('g')
            // Partition 0 gets records, partition 1 never does.
            await log.append(topic, [{ key: null, value: Buffer.from('a'), partition: 0 }])
            const ticks: { topic: string; partition: number; records: number; tick: boolean }[] = []
            let handling = 0
            let overlaps = 0
            const subscription = await log.subscribe(
              {
                group,
                topics: [topic],
                delivery,
                fromBeginning: true,
                checkpoint: {
                  intervalMs: 50,
                  tickIntervalMs: 40,
                  ...txn(),
                  assigned: async () => {},
                  prepare: async () => 'm',
                  committed: async () => {},
                  revoked: () => {},
                },
              },
              async (batch) => {
                if (handling++ > 0) overlaps++
                try {
                  if (batch.tick !== true) return
                  ticks.push({
                    topic: batch.topic,
                    partition: batch.partition,
                    records: batch.records.length,
                    tick: batch.tick,
                  })
                  // One output from the second tick only: a tick's appends are part of the checkpoint.
                  if (ticks.length === 2)
                    await batch.transaction!.append(out, [{ key: null, value: Buffer.from('fired') }])
                } finally {
                  handling--
                }
              },
            )
            running.push(subscription)
            await waitFor(() => ticks.length >= 3, 'three ticks of the quiet partition')
            expect(ticks.every((t) => t.topic === topic && t.partition === 0 && t.records === 0)).toBe(true)
            await waitFor(
              async () => (await readAll(log, out, 1)).some((r) => r.value.toString() === 'fired'),
              'the tick’s output committed without stop()',
            )
            await subscription.stop()
            expect(overlaps).toBe(0)
            expect((await readAll(log, out, 1)).map((r) => r.value.toString())).toEqual(['fired'])
          },
          TEST_TIMEOUT,
        )

        it(
          'a rejecting handler ends the subscription after revoked; the batch goes to the next subscriber with the last commit',
          async () => {
            const topic = await topicWith(1)
            const out = await topicWith(1)
            const group = unique('g')
            const transactional = txn()
            await fill(topic, 6, 'm')
            const failure = new Error('handler failed on purpose')
            const first = await checkpointed({
              group,
              topic,
              out,
              delivery,
              intervalMs: 0,
              maxBatchRecords: 2,
              ...transactional,
              afterAppend: async (batch) => {
                if (batch.records.some((r) => r.offset >= 4)) throw failure
              },
            })
            await expect(first.subscription.done).rejects.toBe(failure)
            await first.subscription.stop()
            const events = first.recorder.of(topic, 0)
            expect(events.at(-1)!.kind).toBe('revoked')
            expect(events.filter((e) => e.kind === 'batch').map((e) => e.offsets)).toEqual([
              [0, 1],
              [2, 3],
              [4, 5],
            ])
            expect(await log.committedOffsets(group, topic)).toEqual([4])
            expect(await log.committedMetadata(group, topic, 0)).toBe('epoch-2')
            if (delivery === 'exactly-once') {
              const visible = (await readAll(log, out, 1)).map((r) => r.value.toString())
              expect(visible).toEqual(['out:m-0', 'out:m-1', 'out:m-2', 'out:m-3'])
            }

            const second = await checkpointed({
              group,
              topic,
              out,
              delivery,
              intervalMs: 0,
              ...transactional,
            })
            await waitFor(() => second.recorder.handled(topic) >= 2, 'the failed batch again')
            expect(second.recorder.of(topic, 0)[0]).toMatchObject({ kind: 'assigned', metadata: 'epoch-2' })
            expect(second.recorder.of(topic, 0)[1]!.offsets).toEqual([4, 5])
            await second.subscription.stop()
            expect(await log.committedOffsets(group, topic)).toEqual([6])
            if (delivery === 'exactly-once') {
              const visible = (await readAll(log, out, 1)).map((r) => r.value.toString())
              expect(visible).toEqual(['out:m-0', 'out:m-1', 'out:m-2', 'out:m-3', 'out:m-4', 'out:m-5'])
            }
          },
          TEST_TIMEOUT,
        )

        it(
          'a rejecting prepare ends the subscription without committing',
          async () => {
            const topic = await topicWith(1)
            const out = await topicWith(1)
            const group = unique('g')
            await fill(topic, 3, 'p')
            const failure = new Error('prepare failed on purpose')
            const { subscription, recorder } = await checkpointed({
              group,
              topic,
              out,
              delivery,
              intervalMs: 0,
              ...txn(),
              prepare: async () => {
                throw failure
              },
            })
            await expect(subscription.done).rejects.toBe(failure)
            expect(recorder.count('committed')).toBe(0)
            expect(recorder.of(topic, 0).at(-1)!.kind).toBe('revoked')
            expect(await log.committedOffsets(group, topic)).toEqual([-1])
            expect(await log.committedMetadata(group, topic, 0)).toBeNull()
            if (delivery === 'exactly-once') expect(await readAll(log, out, 1)).toEqual([])
          },
          TEST_TIMEOUT,
        )
      })
    }

    describe('at-least-once', () => {
      it(
        'transaction.append is a plain append: visible before the checkpoint commits',
        async () => {
          const topic = await topicWith(1)
          const out = await topicWith(1)
          const group = unique('g')
          await fill(topic, 4, 'a')
          const { subscription, recorder } = await checkpointed({
            group,
            topic,
            out,
            delivery: 'at-least-once',
            intervalMs: 60_000,
          })
          await waitFor(() => recorder.handled(topic) >= 4, 'the 4 records')
          expect((await readAll(log, out, 1)).map((r) => r.value.toString())).toEqual([
            'out:a-0',
            'out:a-1',
            'out:a-2',
            'out:a-3',
          ])
          expect(await log.committedOffsets(group, topic)).toEqual([-1])
          await subscription.stop()
          expect(await log.committedOffsets(group, topic)).toEqual([4])
          expect(await log.committedMetadata(group, topic, 0)).toBe('epoch-1')
        },
        TEST_TIMEOUT,
      )
    })

    describe('exactly-once', () => {
      it(
        'refuses exactly-once without a checkpoint or without a transactionalId',
        async () => {
          const topic = await topicWith(1)
          const handler = async () => {}
          await expectCode(
            log.subscribe({ group: unique('g'), topics: [topic], delivery: 'exactly-once' }, handler),
            'LOG_INVALID_ARGUMENT',
          )
          const hooks: CheckpointOptions = {
            assigned: async () => {},
            prepare: async () => '',
            committed: async () => {},
            revoked: () => {},
          }
          await expectCode(
            log.subscribe(
              { group: unique('g'), topics: [topic], delivery: 'exactly-once', checkpoint: hooks },
              handler,
            ),
            'LOG_INVALID_ARGUMENT',
          )
        },
        TEST_TIMEOUT,
      )

      it(
        'outputs stay invisible to read and to other subscribers until the commit, then appear with the offset and metadata',
        async () => {
          const topic = await topicWith(1)
          const out = await topicWith(2)
          const group = unique('g')
          await fill(topic, 3, 'x')
          const seen: LogRecord[] = []
          const reader = await log.subscribe({ group: unique('reader'), topics: [out] }, async (batch) => {
            seen.push(...batch.records)
          })
          running.push(reader)
          const { subscription, recorder } = await checkpointed({
            group,
            topic,
            out,
            delivery: 'exactly-once',
            intervalMs: 60_000,
            transactionalId: unique('txn'),
          })
          await waitFor(() => recorder.handled(topic) >= 3, 'the 3 records')
          await sleep(500)
          expect(await readAll(log, out, 2)).toEqual([])
          expect(seen).toEqual([])
          expect(await log.committedOffsets(group, topic)).toEqual([-1])
          expect(await log.committedMetadata(group, topic, 0)).toBeNull()

          await subscription.stop()
          const expected = ['out:x-0', 'out:x-1', 'out:x-2']
          expect((await readAll(log, out, 2)).map((r) => r.value.toString()).sort()).toEqual(expected)
          expect(await log.committedOffsets(group, topic)).toEqual([3])
          expect(await log.committedMetadata(group, topic, 0)).toBe('epoch-1')
          await waitFor(() => seen.length >= 3, 'the other subscriber to see the committed outputs')
          expect(seen.map((r) => r.value.toString()).sort()).toEqual(expected)
        },
        TEST_TIMEOUT,
      )

      it(
        'a crash mid-epoch leaves nothing of the epoch visible, and the next owner redoes it exactly once',
        async () => {
          const topic = await topicWith(1)
          const out = await topicWith(1)
          const group = unique('g')
          const transactionalId = unique('txn')
          await fill(topic, 4, 'c')
          const stuck = gate()
          const crashed = new Error('the crashed process never gets further')
          const first = await checkpointed({
            group,
            topic,
            out,
            delivery: 'exactly-once',
            intervalMs: 0,
            maxBatchRecords: 2,
            transactionalId,
            afterAppend: async (batch) => {
              if (batch.records[0]!.offset < 2) return
              await stuck.wait
              throw crashed
            },
          })
          await waitFor(() => first.appended.length >= 4, 'the second epoch to append its outputs')
          await waitFor(() => first.recorder.count('committed') >= 1, 'the first epoch to commit')
          const abandoned = Math.max(...first.appended)

          const restarted = await target.crash()
          expect((await readAll(restarted, out, 1)).map((r) => r.value.toString())).toEqual([
            'out:c-0',
            'out:c-1',
          ])
          expect(await restarted.committedOffsets(group, topic)).toEqual([2])
          expect(await restarted.committedMetadata(group, topic, 0)).toBe('epoch-1')

          const second = await checkpointed(
            { group, topic, out, delivery: 'exactly-once', intervalMs: 0, transactionalId },
            restarted,
          )
          await waitFor(() => second.recorder.handled(topic) >= 2, 'the unfinished epoch again')
          expect(second.recorder.of(topic, 0)[0]).toMatchObject({ kind: 'assigned', metadata: 'epoch-1' })
          await second.subscription.stop()
          stuck.open()
          const visible = await readAll(restarted, out, 1)
          expect(visible.map((r) => r.value.toString())).toEqual(['out:c-0', 'out:c-1', 'out:c-2', 'out:c-3'])
          // The offsets the crashed epoch took are never handed out again.
          for (const r of visible.slice(2)) expect(r.offset).toBeGreaterThan(abandoned)
          expect(await restarted.committedOffsets(group, topic)).toEqual([4])
        },
        TEST_TIMEOUT,
      )

      it(
        'a crash of the next holder of a transactional id in the same process keeps what the previous holder committed',
        async () => {
          const topic = await topicWith(1)
          const out = await topicWith(1)
          const group = unique('g')
          const transactionalId = unique('txn')
          await fill(topic, 2, 'p')
          const first = await checkpointed({
            group,
            topic,
            out,
            delivery: 'exactly-once',
            intervalMs: 60_000,
            transactionalId,
          })
          await waitFor(() => first.recorder.handled(topic) >= 2, 'the first 2 records')
          await first.subscription.stop()

          await fill(topic, 1, 'q')
          const stuck = gate()
          const second = await checkpointed({
            group,
            topic,
            out,
            delivery: 'exactly-once',
            intervalMs: 60_000,
            transactionalId,
            afterAppend: async () => {
              await stuck.wait
              throw new Error('the crashed process never gets further')
            },
          })
          await waitFor(() => second.appended.length >= 1, 'the second holder to append')
          const restarted = await target.crash()
          stuck.open()
          expect((await readAll(restarted, out, 1)).map((r) => r.value.toString())).toEqual([
            'out:p-0',
            'out:p-1',
          ])
          expect(await restarted.committedOffsets(group, topic)).toEqual([2])
        },
        TEST_TIMEOUT,
      )

      it(
        'a second subscriber taking the transactional id fences the first: LOG_FENCED, its open work never visible',
        async () => {
          const topic = await topicWith(1)
          const out = await topicWith(1)
          const transactionalId = unique('txn')
          await fill(topic, 2, 'f')
          const held = gate()
          let zombieAppend: Promise<unknown> | null = null
          let zombieStarted = false
          const zombie = await log.subscribe(
            {
              group: unique('zombie'),
              topics: [topic],
              delivery: 'exactly-once',
              checkpoint: {
                intervalMs: 60_000,
                transactionalId,
                assigned: async () => {},
                prepare: async () => 'zombie',
                committed: async () => {},
                revoked: () => {},
              },
            },
            async (batch) => {
              await batch.transaction!.append(out, [{ key: null, value: Buffer.from('zombie-1') }])
              zombieStarted = true
              await held.wait
              zombieAppend = batch.transaction!.append(out, [{ key: null, value: Buffer.from('zombie-2') }])
              await zombieAppend
            },
          )
          running.push(zombie)
          await waitFor(() => zombieStarted, 'the first subscriber to append in its transaction')

          const successor = await checkpointed({
            group: unique('successor'),
            topic,
            out,
            delivery: 'exactly-once',
            intervalMs: 60_000,
            transactionalId,
          })
          await waitFor(() => successor.recorder.handled(topic) >= 2, 'the successor to handle the records')
          held.open()
          const ended = await zombie.done.then(
            () => null,
            (error: unknown) => error,
          )
          expect(isSluiceError(ended, 'LOG_FENCED'), `expected LOG_FENCED, got ${String(ended)}`).toBe(true)
          expect(zombieAppend).not.toBeNull()
          await expectCode(zombieAppend!, 'LOG_FENCED')

          await successor.subscription.stop()
          const visible = (await readAll(log, out, 1)).map((r) => r.value.toString())
          expect(visible).toEqual(['out:f-0', 'out:f-1'])
        },
        TEST_TIMEOUT,
      )
    })

    describe('co-partitioned tasks', () => {
      /**
       * A checkpointed subscription to `topics` with `groups` co-partitioned; the handler appends
       * `out:<value>` per record through the batch's transaction. Hooks and batches are recorded
       * under the batch's task, so the recorder counts overlaps per task.
       */
      async function tasked(
        options: {
          readonly group: string
          readonly topics: readonly string[]
          readonly groups: readonly (readonly string[])[]
          readonly out: string
          readonly delivery: Delivery
          readonly intervalMs: number
          readonly transactionalId?: string
          readonly maxBatchRecords?: number
          readonly afterAppend?: (batch: RecordBatch) => Promise<void>
        },
        on: Log = log,
      ) {
        const recorder = new HookRecorder()
        const batches: RecordBatch[] = []
        const appended: number[] = []
        let prepared = 0
        const subscription = await on.subscribe(
          {
            group: options.group,
            topics: options.topics,
            copartitioned: options.groups,
            delivery: options.delivery,
            fromBeginning: true,
            ...(options.maxBatchRecords === undefined ? {} : { maxBatchRecords: options.maxBatchRecords }),
            checkpoint: {
              intervalMs: options.intervalMs,
              ...(options.transactionalId === undefined ? {} : { transactionalId: options.transactionalId }),
              assigned: (topic, partition, metadata) =>
                recorder.run({ kind: 'assigned', topic, partition, metadata }, async () => {}),
              prepare: (topic, partition) => {
                const n = ++prepared
                return recorder.run({ kind: 'prepare', topic, partition }, async () => `epoch-${n}`)
              },
              committed: (topic, partition, metadata) =>
                recorder.run({ kind: 'committed', topic, partition, metadata }, async () => {}),
              revoked: (topic, partition) => {
                recorder.events.push({ kind: 'revoked', topic, partition, at: Date.now() })
              },
            },
          },
          async (batch) => {
            batches.push(batch)
            expect(batch.task, 'a checkpointed batch names its task').toBeDefined()
            await recorder.run(
              {
                kind: 'batch',
                topic: batch.task!.topic,
                partition: batch.task!.partition,
                offsets: batch.records.map((r) => r.offset),
              },
              async () => {
                const positions = await batch.transaction!.append(
                  options.out,
                  batch.records.map((r) => ({ key: null, value: Buffer.from(`out:${r.value.toString()}`) })),
                )
                appended.push(...positions.map((p) => p.offset))
                await options.afterAppend?.(batch)
              },
            )
          },
        )
        running.push(subscription)
        return { subscription, recorder, batches, appended }
      }

      it(
        'refuses groups that name an unsubscribed topic, one topic, or topics with different partition counts',
        async () => {
          const a = await topicWith(2)
          const b = await topicWith(2)
          const three = await topicWith(3)
          const handler = async () => {}
          const refused = async (topics: string[], groups: string[][]) =>
            expectCode(
              log.subscribe({ group: unique('g'), topics, copartitioned: groups }, handler),
              'LOG_INVALID_ARGUMENT',
            )
          await refused([a], [[a, b]])
          await refused([a, b], [[a]])
          await refused([a, b], [[a, a]])
          await refused([a, b, three], [[a, b, three]])
          await refused(
            [a, b, three],
            [
              [a, b],
              [b, three],
            ],
          )
        },
        TEST_TIMEOUT,
      )

      for (const delivery of ['at-least-once', 'exactly-once'] as const) {
        it(
          `${delivery}: partition p of every topic of a group is one task: hooks once per task under the first topic, serialised with both topics' batches, offsets committed together`,
          async () => {
            const a = await topicWith(2)
            const b = await topicWith(2)
            const lone = await topicWith(1)
            const out = await topicWith(1)
            const group = unique('g')
            await fill(a, 20, 'a', 2)
            await fill(b, 30, 'b', 2)
            await fill(lone, 5, 'l', 1)
            const { subscription, recorder, batches } = await tasked({
              group,
              topics: [a, b, lone],
              groups: [[a, b]],
              out,
              delivery,
              intervalMs: 20,
              maxBatchRecords: 4,
              ...(delivery === 'exactly-once' ? { transactionalId: unique('txn') } : {}),
            })
            const handled = () => batches.reduce((n, batch) => n + batch.records.length, 0)
            await waitFor(() => handled() >= 55 && recorder.count('committed') >= 3, 'every record handled')
            await subscription.stop()
            await expect(subscription.done).resolves.toBeUndefined()

            for (const batch of batches) {
              const lead = batch.topic === lone ? lone : a
              expect(batch.task).toEqual({ topic: lead, partition: batch.partition })
            }
            expect(recorder.overlaps, 'two batches or hooks of one task ran at the same time').toBe(0)
            const hooks = recorder.events.filter((e) => e.kind !== 'batch')
            expect(
              hooks.some((e) => e.topic === b),
              'no hook is called for the second topic of a group',
            ).toBe(false)
            for (const partition of [0, 1]) {
              const events = recorder.of(a, partition)
              expect(events.filter((e) => e.kind === 'assigned')).toHaveLength(1)
              expect(events[0]).toMatchObject({ kind: 'assigned', metadata: null })
              expect(events.at(-1)!.kind).toBe('revoked')
              expect(events.at(-2)!.kind).toBe('committed')
              const metadata = events.at(-2)!.metadata
              expect(await log.committedMetadata(group, a, partition)).toBe(metadata)
              expect(await log.committedMetadata(group, b, partition)).toBe(metadata)
            }
            expect(recorder.of(lone, 0)[0]).toMatchObject({ kind: 'assigned' })
            expect(await log.committedOffsets(group, a)).toEqual([10, 10])
            expect(await log.committedOffsets(group, b)).toEqual([15, 15])
            expect(await log.committedOffsets(group, lone)).toEqual([5])
            const outputs = (await readAll(log, out, 1)).map((r) => r.value.toString())
            expect(outputs).toHaveLength(55)
            expect(new Set(outputs).size).toBe(55)
          },
          TEST_TIMEOUT,
        )
      }

      it(
        "exactly-once: a crash mid-epoch of a task leaves neither topic's offsets nor outputs of the epoch, and the restart redoes it once",
        async () => {
          const a = await topicWith(1)
          const b = await topicWith(1)
          const out = await topicWith(1)
          const group = unique('g')
          const transactionalId = unique('txn')
          await fill(a, 2, 'a')
          await fill(b, 2, 'b')
          const stuck = gate()
          const job = {
            group,
            topics: [a, b],
            groups: [[a, b]],
            out,
            delivery: 'exactly-once',
            intervalMs: 60_000,
            transactionalId,
          } as const
          const first = await tasked(job)
          await waitFor(() => first.appended.length >= 4, 'both topics handled')
          // The first epoch commits at stop(); the next subscriber then crashes mid-epoch.
          await first.subscription.stop()
          expect(await log.committedOffsets(group, a)).toEqual([2])
          expect(await log.committedOffsets(group, b)).toEqual([2])

          await fill(a, 2, 'a2')
          await fill(b, 2, 'b2')
          let seenB = false
          await tasked({
            ...job,
            afterAppend: async (batch) => {
              if (batch.topic !== b) return
              seenB = true
              await stuck.wait
              throw new Error('the crashed process never gets further')
            },
          })
          await waitFor(() => seenB, 'the second epoch to reach the second topic')
          const restarted = await target.crash()
          expect(await restarted.committedOffsets(group, a)).toEqual([2])
          expect(await restarted.committedOffsets(group, b)).toEqual([2])
          expect((await readAll(restarted, out, 1)).map((r) => r.value.toString()).sort()).toEqual(
            ['out:a-0', 'out:a-1', 'out:b-0', 'out:b-1'].sort(),
          )

          const third = await tasked(job, restarted)
          await waitFor(() => third.appended.length >= 4, 'the unfinished epoch again')
          expect(third.recorder.of(a, 0)[0]).toMatchObject({ kind: 'assigned', metadata: 'epoch-1' })
          await third.subscription.stop()
          stuck.open()
          expect((await readAll(restarted, out, 1)).map((r) => r.value.toString()).sort()).toEqual(
            [
              'out:a-0',
              'out:a-1',
              'out:b-0',
              'out:b-1',
              'out:a2-0',
              'out:a2-1',
              'out:b2-0',
              'out:b2-1',
            ].sort(),
          )
          expect(await restarted.committedOffsets(group, a)).toEqual([4])
          expect(await restarted.committedOffsets(group, b)).toEqual([4])
        },
        TEST_TIMEOUT,
      )
    })
  })
}

interface HookEvent {
  readonly kind: 'assigned' | 'batch' | 'prepare' | 'committed' | 'revoked'
  readonly topic: string
  readonly partition: number
  readonly metadata?: string | null
  readonly offsets?: readonly number[]
  /** What the hook resolved to (prepare: the metadata). */
  result?: unknown
  /** When it started (Date.now()). */
  at: number
  /** Whether it resolved. */
  finished?: boolean
}

/** Records hooks and batches in the order they start, and counts overlaps within a partition. */
class HookRecorder {
  readonly events: HookEvent[] = []
  overlaps = 0
  private readonly busy = new Set<string>()

  async run<T>(event: Omit<HookEvent, 'at'>, body: () => Promise<T>): Promise<T> {
    const key = `${event.topic}/${event.partition}`
    if (this.busy.has(key)) this.overlaps++
    this.busy.add(key)
    const recorded: HookEvent = { ...event, at: Date.now() }
    this.events.push(recorded)
    try {
      // Long enough for a hook or batch that wrongly runs at the same time to be seen.
      await sleep(2)
      const result = await body()
      recorded.result = result
      recorded.finished = true
      return result
    } finally {
      this.busy.delete(key)
    }
  }

  of(topic: string, partition: number): HookEvent[] {
    return this.events.filter((e) => e.topic === topic && e.partition === partition)
  }

  count(kind: HookEvent['kind']): number {
    return this.events.filter((e) => e.kind === kind).length
  }

  /** Records of `topic` whose batch the handler finished (its outputs appended). */
  handled(topic: string): number {
    return this.events.reduce(
      (sum, e) => sum + (e.kind === 'batch' && e.topic === topic && e.finished ? e.offsets!.length : 0),
      0,
    )
  }
}

interface Gate {
  readonly wait: Promise<void>
  open(): void
}

function newGate(): Gate {
  let open = () => {}
  const wait = new Promise<void>((resolve) => {
    open = resolve
  })
  return { wait, open }
}

/** Every record `read` returns from each partition of `topic`, partition by partition. */
async function readAll(log: Log, topic: string, partitions: number): Promise<LogRecord[]> {
  const out: LogRecord[] = []
  for (let p = 0; p < partitions; p++) {
    let from = 0
    for (;;) {
      const records = await log.read(topic, p, from, 100)
      if (records.length === 0) break
      out.push(...records)
      from = records.at(-1)!.offset + 1
    }
  }
  return out
}

const TEST_TIMEOUT = 90_000
const HOOK_TIMEOUT = 60_000
/** Timers may fire a little early relative to Date.now() on a loaded machine. */
const CLOCK_JITTER_MS = 25

function unique(prefix: string): string {
  return `sluice-checkpoint-${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i)
}
