/**
 * examples/payments/enrich.pipe end to end through the CLI on the embedded log, as its header says
 * to run it: the card table and the sample payments are produced, the artifact runs until caught
 * up, and its outputs must be what the sample data and the card table give.
 */
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { CommandIO } from '../../cli/command.ts'
import { main } from '../../cli/main.ts'

const here = import.meta.dirname
let dir: string

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

async function sluice(...args: string[]): Promise<string> {
  const out: string[] = []
  const err: string[] = []
  const io: CommandIO = {
    stdout: (text) => void out.push(text),
    stderr: (text) => void err.push(text),
    color: false,
    interrupted: new Promise(() => {}),
  }
  const code = await main(args, io)
  if (code !== 0) throw new Error(`sluice ${args.join(' ')} exited with ${code}: ${err.join('')}`)
  return out.join('')
}

interface Payment {
  id: string
  card: string
  amount: number
  currency: string
  country?: string | null
  ts: string | number
}

describe('examples/payments/enrich.pipe', () => {
  it('enriches the sample payments with the card table', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-enrich-example-'))
    const data = join(dir, 'data')
    const artifact = join(dir, 'artifact')
    await sluice('compile', join(here, 'enrich.pipe'), '-o', artifact)
    await sluice(
      'produce',
      'cards',
      '--file',
      join(here, 'cards.jsonl'),
      '--key-field',
      'number',
      '--data-dir',
      data,
    )
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
    const unknown = await sluice(
      'run',
      artifact,
      '--data-dir',
      data,
      '--until-caught-up',
      '--log-level',
      'error',
    )
    const overLimit = (await sluice('consume', 'over-limit', '--data-dir', data))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { id: string; holder: string; limit: number; away: boolean })

    // The expected outputs, straight from the files: the last row of each card number wins.
    const cards = new Map<string, { holder: string; limit_eur: number; home: string }>()
    for (const line of readFileSync(join(here, 'cards.jsonl'), 'utf8').split('\n').filter(Boolean)) {
      const card = JSON.parse(line) as { number: string; holder: string; limit_eur: number; home: string }
      cards.set(card.number, card)
    }
    const payments: Payment[] = []
    for (const line of readFileSync(join(here, 'events.jsonl'), 'utf8').split('\n').filter(Boolean)) {
      try {
        const value = JSON.parse(line) as Payment
        // The sample's malformed events: an amount that is not a number, a time that is not one.
        const timed = typeof value.ts === 'number' || !Number.isNaN(Date.parse(value.ts))
        if (typeof value.amount === 'number' && timed) payments.push(value)
      } catch {
        // the sample's malformed lines are dead-lettered
      }
    }
    const expectedOver = payments.flatMap((p) => {
      const card = cards.get(p.card)
      if (p.currency !== 'EUR' || !card || !(p.amount > card.limit_eur)) return []
      return [
        {
          id: p.id,
          holder: card.holder,
          limit: card.limit_eur,
          away: (p.country ?? card.home) !== card.home,
        },
      ]
    })
    expect(expectedOver.length).toBeGreaterThan(0)
    expect(overLimit.map(({ id, holder, limit, away }) => ({ id, holder, limit, away }))).toEqual(
      expectedOver,
    )
    const expectedUnknown = payments
      .filter((p) => !cards.has(p.card))
      .map((p) => ({ id: p.id, card: p.card }))
    expect(expectedUnknown.length).toBeGreaterThan(0)
    expect(
      unknown
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line)),
    ).toEqual(expectedUnknown)
  })
})
