/**
 * The state budget (runtime/state/entry-budget.ts) on operators that read another operator's
 * results (issues 12 and 13): a join over a window's results, a join over a join's, and a window
 * over a join's. Each is bounded like any window or join, per operator and source partition, under
 * its own state id: a window's result or a join's row that would need a new entry of a full state
 * is refused (dead-lettered as the source record that emitted it, with the reason a full dedup
 * gives), counted in `sluice_state_refused_keys_total`, and the entries show in `sluice_state_keys`;
 * the upstream operator, within its budget, refuses nothing. Multi-topic inputs come in phases, one
 * runner per phase, so the interleaving is fixed and every phase restarts from the checkpoint (the
 * restored state is bounded as before).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { readTopic } from '../../test/support/read-topic.ts'
import { type LoadedArtifact, loadArtifact } from '../artifact/load.ts'
import { EmbeddedLog } from '../log/embedded.ts'
import { MetricsRegistry } from '../metrics/registry.ts'
import { FileSnapshotStore } from '../state/file-snapshot-store.ts'
import type { StateBudget } from './operator-state.ts'
import { DEAD_LETTER_HEADERS, DEFAULT_DEAD_LETTER_TOPIC, PipelineRunner } from './pipeline-runner.ts'

const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, seconds)).toISOString()
const json = (value: unknown) => ({ key: null, value: Buffer.from(JSON.stringify(value)) })

type Phase = [topic: string, records: unknown[]]

/**
 * Runs one runner per phase (the phase's records appended first, every topic created), each until
 * it caught up; returns the metrics text of the last run and the refusals counted over all runs.
 */
async function runPhases(
  artifact: LoadedArtifact,
  budget: StateBudget,
  topics: readonly string[],
  phases: readonly Phase[],
): Promise<{ dir: string; text: string; refused: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-budget-results-'))
  dirs.push(dir)
  let text = ''
  let refused = 0
  for (const [topic, records] of phases) {
    const log = await EmbeddedLog.open(dir, { durability: 'none' })
    const store = new FileSnapshotStore(join(dir, 'state'), { fsync: false })
    const metrics = new MetricsRegistry()
    try {
      for (const t of topics) await log.ensureTopic(t)
      await log.append(topic, records.map(json))
      const runner = await PipelineRunner.start({
        log,
        artifact,
        metrics,
        stateStore: store,
        stateBudget: budget,
      })
      await runner.waitUntilCaughtUp(20_000)
      // While the node still owns the partition (a stop gives its state up).
      text = await metrics.render()
      refused += metrics.find('sluice_state_refused_keys_total')?.total() ?? 0
      await runner.stop()
      await runner.done
    } finally {
      await log.close()
      await store.close()
    }
  }
  return { dir, text, refused }
}

async function read(dir: string, topic: string) {
  const log = await EmbeddedLog.open(dir, { durability: 'none' })
  try {
    await log.ensureTopic(topic)
    return await readTopic(log, topic)
  } finally {
    await log.close()
  }
}

const compiled = async (source: string, name: string) => loadArtifact(await compileFixture(source, name))

describe("the state budget on operators over other operators' results", () => {
  it("a join over a window's results counts the results it buffers with the events of its other side", async () => {
    const artifact = await compiled(
      `
schema Bid { id: i64, price: i64, ts: timestamp @event_time }
source bids: Bid from kafka("bids") watermark ts
stream highest = bids | aggregate by all: 0 window tumbling 10s { top: max(price) }
stream q7 = join bids as b, highest as h on b.price == h.top within b between 9999ms before and 0ms after h
  | select { bid: b.id }
sink q7 -> kafka("q7")
`,
      'budget-join-over-window',
    )
    const { dir, text, refused } = await runPhases(
      artifact,
      { maxKeys: 2 },
      ['bids'],
      [
        [
          'bids',
          [
            // Bids 1 and 2 fill the join's state (each may still meet a result ending 10 s later).
            { id: 1, price: 5, ts: at(1) },
            { id: 2, price: 7, ts: at(2) },
            // Refused by the join (the window, one row, takes it).
            { id: 3, price: 3, ts: at(3) },
            // Fires [0 s, 10 s), top 7. At this record the join's watermark is still 3 s (the
            // results' side meets the watermark of the record before): bids 1 and 2 are held, so
            // both bid 4 and the result are refused, and bid 2 never pairs.
            { id: 4, price: 1, ts: at(11) },
          ],
        ],
      ],
    )
    expect(await read(dir, 'q7')).toEqual([])
    const dead = await read(dir, DEFAULT_DEAD_LETTER_TOPIC)
    // The result is dead-lettered as the record that fired it, bid 4.
    expect(dead.map((r) => JSON.parse(r.value.toString()).id)).toEqual([3, 4, 4])
    for (const letter of dead) {
      expect(letter.headers[DEAD_LETTER_HEADERS.reason]).toMatch(
        /^the state of step q7\.join\.0\.\S+ is full: its budget refuses new keys$/,
      )
    }
    expect(refused).toBe(3)
    // After bid 4 the watermark (11 s) let bid 1 go; bid 2 may still pair until 11.999 s.
    expect(text).toMatch(/sluice_state_keys\{operator="q7\.join\.0\.[^"]+"\} 1/)
    expect(text).toMatch(/sluice_state_keys\{operator="highest\.window\.0\.[^"]+"\} 1/)
  })

  it("a join over a join's results is bounded on its own: it refuses a row the upstream join made within its budget", async () => {
    const artifact = await compiled(
      `
schema Order { id: i64, ts: timestamp @event_time }
schema Payment { order: i64, ts: timestamp @event_time }
schema Shipment { order: i64, ts: timestamp @event_time }
source orders: Order from kafka("orders") watermark ts
source payments: Payment from kafka("payments") watermark ts
source shipments: Shipment from kafka("shipments") watermark ts
stream paid = join orders as o, payments as p on o.id == p.order within p between 0ms after and 1s after o
stream shipped = join paid as x, shipments as s on x.o.id == s.order within s between 0ms after and 1m after x
  | select { order: x.o.id }
sink shipped -> kafka("shipped")
`,
      'budget-join-over-join',
    )
    const order = (id: number, seconds: number): Phase => ['orders', [{ id, ts: at(seconds) }]]
    const payment = (id: number, seconds: number): Phase => ['payments', [{ order: id, ts: at(seconds) }]]
    // `paid` pairs each order with its payment and lets both go once both watermarks passed them,
    // so it never holds more than 3 events. With no shipment, `shipped`'s watermark does not
    // move: it keeps every row of `paid`, and the fourth is one too many.
    const { dir, text, refused } = await runPhases(
      artifact,
      { maxKeys: 3 },
      ['orders', 'payments', 'shipments'],
      [
        order(1, 1),
        payment(1, 1),
        order(2, 5),
        payment(2, 5),
        order(3, 10),
        payment(3, 10),
        order(4, 15),
        payment(4, 15),
      ],
    )
    const dead = await read(dir, DEFAULT_DEAD_LETTER_TOPIC)
    // Row 4 is dead-lettered as the record that made it, payment 4.
    expect(dead.map((r) => JSON.parse(r.value.toString()))).toEqual([{ order: 4, ts: at(15) }])
    expect(dead[0]!.headers[DEAD_LETTER_HEADERS.reason]).toMatch(
      /^the state of step shipped\.join\.0\.\S+ is full: its budget refuses new keys$/,
    )
    expect(refused).toBe(1)
    expect(text).toMatch(/sluice_state_keys\{operator="shipped\.join\.0\.[^"]+"\} 3/)
    expect(text).toMatch(/sluice_state_keys\{operator="paid\.join\.0\.[^"]+"\} 2/)
  })

  it("a window over a join's results counts its rows, and room comes back as the join's watermark closes windows", async () => {
    const artifact = await compiled(
      `
schema Order { id: string, ts: timestamp @event_time }
schema Payment { order: string, ts: timestamp @event_time }
source orders: Order from kafka("orders") watermark ts
source payments: Payment from kafka("payments") watermark ts
stream paid = join orders as o, payments as p on o.id == p.order within p between 0ms after and 0ms after o
stream per_order = paid | aggregate by id: o.id window tumbling 10s { n: count() }
sink per_order -> kafka("out")
`,
      'budget-window-over-join',
    )
    const order = (id: string, seconds: number): Phase => ['orders', [{ id, ts: at(seconds) }]]
    const payment = (id: string, seconds: number): Phase => ['payments', [{ order: id, ts: at(seconds) }]]
    // `paid` holds at most 3 events; the window a row per order and window: a, b and c fill
    // [0 s, 10 s), so d's row is refused. e (12 s) is refused too: its row meets the watermark of
    // the record before (4 s, the join's after order e), when [0 s, 10 s) is still open; payment e
    // then moves the watermark to 12 s, which closes it, and f finds room.
    const { dir, text, refused } = await runPhases(
      artifact,
      { maxKeys: 3 },
      ['orders', 'payments'],
      [
        order('a', 1),
        payment('a', 1),
        order('b', 2),
        payment('b', 2),
        order('c', 3),
        payment('c', 3),
        order('d', 4),
        payment('d', 4),
        order('e', 12),
        payment('e', 12),
        order('f', 13),
        payment('f', 13),
      ],
    )
    const out = (await read(dir, 'out')).map((r) => JSON.parse(r.value.toString()))
    expect(out).toEqual([
      { id: 'a', n: 1 },
      { id: 'b', n: 1 },
      { id: 'c', n: 1 },
    ])
    const dead = await read(dir, DEFAULT_DEAD_LETTER_TOPIC)
    expect(dead.map((r) => JSON.parse(r.value.toString()))).toEqual([
      { order: 'd', ts: at(4) },
      { order: 'e', ts: at(12) },
    ])
    for (const letter of dead) {
      expect(letter.headers[DEAD_LETTER_HEADERS.reason]).toMatch(
        /^the state of step per_order\.window\.0\.\S+ is full: its budget refuses new keys$/,
      )
    }
    expect(refused).toBe(2)
    expect(text).toMatch(/sluice_state_keys\{operator="per_order\.window\.0\.[^"]+"\} 1/)
  })
})
