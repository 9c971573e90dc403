/**
 * examples/payments/risk.pipe end to end through the CLI on the embedded log, as its header says
 * to run it: the TypeScript risk model (risk.ts) is type-checked, bundled into the artifact and
 * called per payment; the output is every sample payment whose score, computed here by calling
 * the same module directly, is at least 0.5, in input order and keyed by card.
 */
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runCliOk } from '../../test/support/capture-io.ts'
import { risk_score } from './risk.ts'

const here = import.meta.dirname
let dir: string

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

const sluice = runCliOk

interface SamplePayment {
  id: string
  card: string
  amount: number
  country?: string | null
  merchant: { country: string; category?: string | null }
}

describe('examples/payments/risk.pipe', () => {
  it('writes the payments the TypeScript risk model scores at 0.5 or more', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-risk-example-'))
    const data = join(dir, 'data')
    const artifact = join(dir, 'artifact')
    await sluice('compile', join(here, 'risk.pipe'), '-o', artifact)
    expect(existsSync(join(artifact, 'udfs.mjs'))).toBe(true)
    await sluice(
      'produce',
      'payments',
      '--file',
      join(here, 'events.jsonl'),
      '--key-field',
      'card',
      '--data-dir',
      data,
    )
    await sluice('run', artifact, '--data-dir', data, '--until-caught-up', '--log-level', 'error')

    const expected = readFileSync(join(here, 'events.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      // The sample's three malformed payments (not JSON, a text amount, a text time) are
      // dead-lettered before the model sees them.
      .filter((line) => !/"id":"p-bad|^this is not json$/.test(line))
      .map((line) => JSON.parse(line) as SamplePayment)
      .map((p) => ({
        id: p.id,
        card: p.card,
        amount: p.amount,
        score: risk_score(
          p.amount,
          p.merchant.category ?? null,
          (p.country ?? p.merchant.country) !== p.merchant.country,
        ),
      }))
      .filter((p) => p.score >= 0.5)
    // The sample has both sides of the threshold, so the filter and the call are both exercised.
    expect(expected.length).toBeGreaterThan(0)
    expect(expected.length).toBeLessThan(40)
    const records = (await sluice('consume', 'risky-payments', '--data-dir', data, '--meta'))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { key: string | null; value: unknown })
    expect(records.map((r) => r.key)).toEqual(expected.map((p) => p.card))
    const values = records.map((r) => (typeof r.value === 'string' ? JSON.parse(r.value) : r.value))
    expect(values).toEqual(expected)
  })
})
