/**
 * The state budget on windows and joins in the runner (embedded log): an event that needs a new
 * window row or buffered event of a full state is dead-lettered with the reason a full dedup gives,
 * counted in `sluice_state_refused_keys_total`, and the state's entries show in `sluice_state_keys`
 * and `sluice_state_bytes` under the operator's state id; a restart restores the state, which the
 * budget bounds as before, and room comes back as the watermark closes windows.
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

async function newDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-budget-runner-'))
  dirs.push(dir)
  return dir
}

/** Appends `records` to `topic`, runs a runner until it caught up; returns the metrics text. */
async function runOnce(
  dir: string,
  artifact: LoadedArtifact,
  budget: StateBudget,
  appends: [topic: string, records: unknown[]][],
): Promise<{ text: string; metrics: MetricsRegistry }> {
  const log = await EmbeddedLog.open(dir, { durability: 'none' })
  const store = new FileSnapshotStore(join(dir, 'state'), { fsync: false })
  const metrics = new MetricsRegistry()
  try {
    for (const [topic, records] of appends) {
      await log.ensureTopic(topic)
      await log.append(topic, records.map(json))
    }
    const runner = await PipelineRunner.start({
      log,
      artifact,
      metrics,
      stateStore: store,
      stateBudget: budget,
    })
    await runner.waitUntilCaughtUp(20_000)
    // While the node still owns the partition (a stop gives its state up).
    const text = await metrics.render()
    await runner.stop()
    await runner.done
    return { text, metrics }
  } finally {
    await log.close()
    await store.close()
  }
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

describe('the state budget on windows and joins', () => {
  it('a window refuses an event that needs a new row of a full state, also after a restart, until windows close', async () => {
    const dir = await newDir()
    const artifact = await loadArtifact(
      await compileFixture(
        `
schema Payment { card: string, amount: i64, ts: timestamp @event_time }
source payments: Payment from kafka("payments")
stream per_card = payments | aggregate by card window tumbling 10s { n: count(), total: sum(amount) }
sink per_card -> kafka("out")
`,
        'budget-window',
      ),
    )
    const budget: StateBudget = { maxKeys: 2 }
    const first = await runOnce(dir, artifact, budget, [
      [
        'payments',
        [
          { card: 'a', amount: 1, ts: at(0) },
          { card: 'b', amount: 2, ts: at(1) },
          // A third row of [0 s, 10 s): refused.
          { card: 'c', amount: 3, ts: at(2) },
          // A row that is there: taken.
          { card: 'a', amount: 4, ts: at(3) },
        ],
      ],
    ])
    expect(first.text).toMatch(/sluice_state_keys\{operator="per_card\.window\.0\.[^"]+"\} 2/)
    expect(first.text).toMatch(/sluice_state_bytes\{operator="per_card\.window\.0\.[^"]+"\} [1-9]/)
    expect(first.metrics.find('sluice_state_refused_keys_total')?.total()).toBe(1)

    const second = await runOnce(dir, artifact, budget, [
      [
        'payments',
        [
          // The restored state is still full.
          { card: 'd', amount: 5, ts: at(4) },
          // The watermark closes [0 s, 10 s) first: its rows are gone, and e has room.
          { card: 'e', amount: 6, ts: at(12) },
        ],
      ],
    ])
    expect(second.metrics.find('sluice_state_refused_keys_total')?.total()).toBe(1)
    expect(second.text).toMatch(/sluice_state_keys\{operator="per_card\.window\.0\.[^"]+"\} 1/)

    const out = (await read(dir, 'out')).map((r) => JSON.parse(r.value.toString()))
    expect(out).toEqual([
      { card: 'a', n: 2, total: 5 },
      { card: 'b', n: 1, total: 2 },
    ])
    const dead = await read(dir, DEFAULT_DEAD_LETTER_TOPIC)
    expect(dead.map((r) => JSON.parse(r.value.toString()).card)).toEqual(['c', 'd'])
    for (const letter of dead) {
      expect(letter.headers[DEAD_LETTER_HEADERS.reason]).toMatch(
        /^the state of step per_card\.window\.0\.\S+ is full: its budget refuses new keys$/,
      )
    }
  })

  it('a join refuses an event it would have to buffer beyond the budget, before it meets a partner', async () => {
    const dir = await newDir()
    const artifact = await loadArtifact(
      await compileFixture(
        `
schema Order { id: string, ts: timestamp @event_time }
schema Payment { order_id: string, ts: timestamp @event_time }
source orders: Order from kafka("orders") watermark ts
source payments: Payment from kafka("payments") watermark ts
stream paid = join orders as o, payments as p on o.id == p.order_id
  within p between 0s before and 1m after o
  | select { order: o.id }
sink paid -> kafka("paid")
`,
        'budget-join',
      ),
    )
    const { text, metrics } = await runOnce(dir, artifact, { maxKeys: 2 }, [
      [
        'orders',
        [
          { id: 'a', ts: at(0) },
          { id: 'b', ts: at(1) },
        ],
      ],
      // Order a and b fill the state: payment a is refused, so a is never paired.
      ['payments', [{ order_id: 'a', ts: at(2) }]],
    ])
    expect(await read(dir, 'paid')).toEqual([])
    const dead = await read(dir, DEFAULT_DEAD_LETTER_TOPIC)
    expect(dead.map((r) => JSON.parse(r.value.toString()))).toEqual([{ order_id: 'a', ts: at(2) }])
    expect(dead[0]!.headers[DEAD_LETTER_HEADERS.reason]).toMatch(
      /^the state of step paid\.join\.0\.\S+ is full: its budget refuses new keys$/,
    )
    expect(metrics.find('sluice_state_refused_keys_total')?.total()).toBe(1)
    expect(text).toMatch(/sluice_state_keys\{operator="paid\.join\.0\.[^"]+"\} 2/)
  })

  it('a table refuses a record that would add a key beyond the budget: it is dead-lettered, and lookups miss it', async () => {
    const dir = await newDir()
    const artifact = await loadArtifact(
      await compileFixture(
        `
schema Payment { id: string, card: string }
schema Card { number: string, holder: string }
source payments: Payment from kafka("payments")
table cards: Card from kafka("cards") key by number
stream enriched = payments | lookup cards as c on card or null | select { id, holder: c.holder }
sink enriched -> kafka("enriched")
`,
        'budget-table',
      ),
    )
    await runOnce(dir, artifact, { maxKeys: 1 }, [
      [
        'cards',
        [
          { number: '1', holder: 'ann' },
          // A second key: refused.
          { number: '2', holder: 'bob' },
          // A new row of the key held: taken.
          { number: '1', holder: 'amy' },
        ],
      ],
      [
        'payments',
        [
          { id: 'p1', card: '1' },
          { id: 'p2', card: '2' },
        ],
      ],
    ])
    const out = (await read(dir, 'enriched')).map((r) => JSON.parse(r.value.toString()))
    expect(out).toEqual([
      { id: 'p1', holder: 'amy' },
      { id: 'p2', holder: null },
    ])
    const dead = await read(dir, DEFAULT_DEAD_LETTER_TOPIC)
    expect(dead.map((r) => JSON.parse(r.value.toString()))).toEqual([{ number: '2', holder: 'bob' }])
    expect(dead[0]!.headers[DEAD_LETTER_HEADERS.reason]).toBe(
      'the table cards is full: its budget refuses new keys',
    )
  })
})
