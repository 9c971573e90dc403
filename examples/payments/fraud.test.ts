/**
 * examples/payments/fraud.pipe end to end through the CLI on the embedded log, as its header says
 * to run it: the sample payments are produced, the artifact runs until caught up, and its outputs
 * must be what the sample gives: one card tested then spent on, two cards only tested (each of
 * their partial matches runs out), and the payment that came after the watermark shown as late.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runCliOk } from '../../test/support/capture-io.ts'

const here = import.meta.dirname
let dir: string

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

const sluice = runCliOk

const lines = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>)

describe('examples/payments/fraud.pipe', () => {
  it('flags the card whose two small payments are followed by a large one within 10 minutes', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-fraud-example-'))
    const data = join(dir, 'data')
    const artifact = join(dir, 'artifact')
    await sluice('compile', join(here, 'fraud.pipe'), '-o', artifact)
    await sluice(
      'produce',
      'payments',
      '--file',
      join(here, 'fraud-events.jsonl'),
      '--key-field',
      'card',
      '--data-dir',
      data,
    )
    const late = await sluice(
      'run',
      artifact,
      '--data-dir',
      data,
      '--until-caught-up',
      '--log-level',
      'error',
    )
    // 4111-0001: 1.00 and 2.00, a 40.00 skipped (followed by), then 900.00 in euros.
    // 4111-0004's large payment is in dollars; 4111-0002's comes 19 minutes after its first.
    expect(lines(await sluice('consume', 'suspicious-cards', '--data-dir', data))).toEqual([
      {
        card: '4111-0001',
        small_total: 3,
        large_id: 'f-07',
        large_amount: 900,
        merchant: 'Electronics',
        at: '2026-01-01T09:05:00.000Z',
      },
    ])
    // Each small payment starts a partial match; both of a tested card's run out.
    expect(lines(await sluice('consume', 'tested-cards', '--data-dir', data))).toEqual([
      { card: '4111-0002', small_payments: 2, small_total: 3.5 },
      { card: '4111-0002', small_payments: 1, small_total: 3 },
      { card: '4111-0004', small_payments: 2, small_total: 4 },
      { card: '4111-0004', small_payments: 1, small_total: 2.5 },
    ])
    // f-13 (09:30) came after f-12 had moved the watermark to 09:59:55.
    expect(lines(late).map((p) => p.id)).toEqual(['f-13'])
  })
})
