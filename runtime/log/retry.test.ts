import { describe, expect, it } from 'vitest'
import { isSluiceError, SluiceError } from '../errors.ts'
import type { AppendOptions, Log, OutgoingRecord, RecordPosition } from './index.ts'
import { appendRetrying, backoffDelay } from './retry.ts'

/** A log whose appends fail as scripted, recording what each call was asked to append. */
function scriptedLog(failures: (SluiceError | null)[]): { log: Log; calls: string[][] } {
  const calls: string[][] = []
  const log = {
    async append(_topic: string, records: readonly OutgoingRecord[], options?: AppendOptions) {
      calls.push(records.map((r) => r.value.toString()))
      const failure = failures.shift()
      if (failure) throw failure
      records.forEach((r, i) => {
        if (r.value.toString() === 'bad') options?.onRefused?.(i, 'too bad')
      })
      return [] as RecordPosition[]
    },
  } as unknown as Log
  return { log, calls }
}

const records = ['a', 'b', 'bad', 'd'].map((v) => ({ key: null, value: Buffer.from(v) }))
const unavailable = (appended?: number) =>
  new SluiceError('KAFKA_UNAVAILABLE', 'away', {
    retryable: true,
    ...(appended === undefined ? {} : { appended }),
  })

describe('appendRetrying', () => {
  it('sends again only what the log did not acknowledge, with refusals indexed into the whole input', async () => {
    const { log, calls } = scriptedLog([unavailable(1), unavailable(), null])
    const refused: number[] = []
    const retries: number[] = []
    const failures = await appendRetrying(log, 't', records, {
      backoff: { initialMs: 1, maxMs: 2 },
      onRefused: (i) => refused.push(i),
      onRetry: (_e, n) => retries.push(n),
    })
    expect(failures).toBe(2)
    expect(retries).toEqual([1, 2])
    expect(calls).toEqual([
      ['a', 'b', 'bad', 'd'],
      ['b', 'bad', 'd'],
      ['b', 'bad', 'd'],
    ])
    expect(refused).toEqual([2])
  })

  it('throws a final error at once', async () => {
    const { log, calls } = scriptedLog([new SluiceError('LOG_CLOSED', 'closed')])
    await expect(appendRetrying(log, 't', records)).rejects.toThrow('closed')
    expect(calls).toHaveLength(1)
  })

  it('stops waiting when aborted, saying how many records it had left', async () => {
    const { log } = scriptedLog([unavailable(3), unavailable(), unavailable()])
    const abort = new AbortController()
    const error = await appendRetrying(log, 't', records, {
      backoff: { initialMs: 60_000, maxMs: 60_000 },
      signal: abort.signal,
      onRetry: () => abort.abort(),
    }).catch((e: unknown) => e)
    expect(isSluiceError(error, 'LOG_CLOSED')).toBe(true)
    expect((error as SluiceError).appended).toBe(3)
    expect((error as Error).message).toMatch(/take 1 records for t/)
  })
})

describe('backoffDelay', () => {
  it('doubles from the first wait up to the longest, within ±20 % jitter', () => {
    const backoff = { initialMs: 100, maxMs: 1000 }
    for (const [failures, base] of [
      [1, 100],
      [2, 200],
      [4, 800],
      [5, 1000],
      [50, 1000],
    ] as const) {
      const delay = backoffDelay(failures, backoff)
      expect(delay).toBeGreaterThanOrEqual(base * 0.8)
      expect(delay).toBeLessThanOrEqual(base * 1.2)
    }
  })
})
