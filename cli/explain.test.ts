/**
 * `sluice explain` on examples/payments/fraud.pipe and its sample payments: for one card, which
 * step each payment advanced, why a partial match was dropped, the match, and the late payment;
 * and the usage errors that name what is wrong.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../test/support/capture-io.ts'

const EXAMPLE = join(import.meta.dirname, '..', 'examples', 'payments')
const EVENTS = join(EXAMPLE, 'fraud-events.jsonl')
let dir: string
let artifact: string

async function sluice(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const { code, stdout, stderr } = await runCli(...args)
  return { code, out: stdout, err: stderr }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-explain-test-'))
  artifact = join(dir, 'artifact')
  expect((await sluice('compile', join(EXAMPLE, 'fraud.pipe'), '-o', artifact)).code).toBe(0)
})

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('sluice explain', () => {
  it('tells, for one card, which step each payment advanced, what was dropped and why, the match and the late payment', async () => {
    const { code, out } = await sluice('explain', artifact, '--key', '4111-0001', '--input', EVENTS, '--nfa')
    expect(code).toBe(0)
    const lines = out.split('\n')
    // The automaton first: small twice, then large.
    expect(lines).toContain('  0 small start: take->1[small] ignore->0[!small]')
    expect(lines).toContain('  2 large normal: take->3[large] ignore->2[!large]')
    const body = lines.slice(lines.findIndex((l) => l.startsWith('event #')))
    const at = (text: string) => body.findIndex((l) => l.includes(text))
    // f-01 starts a partial match, f-03 extends it and starts another, f-06 (40.0) is neither
    // small nor large: skipped; f-07 (900.0) completes the first; past last event drops the other.
    expect(body[at('"f-01"') + 1]).toBe('  partial match p1 starts: the event meets `small`')
    expect(body.slice(at('"f-03"'), at('"f-06"'))).toEqual([
      expect.stringContaining('"f-03"'),
      '  p1 takes it as `small`',
      '  partial match p3 starts: the event meets `small`',
    ])
    expect(body[at('"f-06"') + 1]).toBe('  p1 skips it (relaxed contiguity), still waiting at `large`')
    expect(body.slice(at('"f-07"') + 1, at('"f-07"') + 5)).toEqual([
      '  p1 takes it as `large`',
      '  p3 skips it (relaxed contiguity), still waiting at `small`',
      '  p3 dropped: the skip strategy discarded it after a match',
      expect.stringMatching(
        /^ {2}p1 MATCHES: #0 \(2026-01-01T09:00:00.000Z\), #2 .*, #6 \(2026-01-01T09:05:00.000Z\)$/,
      ),
    ])
    expect(out).toMatch(
      /late event at 2026-01-01T09:30:00.000Z: before the watermark 2026-01-01T09:59:55.000Z/,
    )
    expect(out).toContain(
      'key "4111-0001": 4 event(s) on time, 1 late, 1 match(es), 1 partial match(es) dropped',
    )
    // Only the card asked for.
    expect(out).not.toContain('"4111-0002"')
  })

  it('says why a card that was only tested got no match: its partial matches timed out', async () => {
    const { code, out } = await sluice(
      'explain',
      artifact,
      '--key',
      '4111-0002',
      '--input',
      `payments=${EVENTS}`,
    )
    expect(code).toBe(0)
    expect(out).toMatch(/times out \(to the timeout stream\): #1 .*#3/)
    expect(out).toContain('dropped: its `within` ran out')
    expect(out).toContain('0 match(es)')
  })

  it('refuses what it cannot do with a message naming the problem', async () => {
    const noKey = await sluice('explain', artifact, '--input', EVENTS)
    expect(noKey.code).toBe(2)
    expect(noKey.err).toContain('--key is required')
    const badSource = await sluice('explain', artifact, '--key', 'x', '--input', `orders=${EVENTS}`)
    expect(badSource.code).toBe(2)
    expect(badSource.err).toContain('no source named orders (there are: payments)')
    const badMatch = await sluice('explain', artifact, '--key', 'x', '--input', EVENTS, '--match', 'nope')
    expect(badMatch.code).toBe(2)
    expect(badMatch.err).toMatch(/--match nope: no match step of that stream \(there are: suspicious/)
  })
})
