import { describe, expect, it } from 'vitest'
import { SluiceError } from '../errors.ts'
import type { AppendOptions, Log, OutgoingRecord, RecordPosition } from '../log/index.ts'
import { GroupAppender } from './appender.ts'

const record = (value: string): OutgoingRecord => ({ key: null, value: Buffer.from(value) })

/** An in-memory log that records each append and can be scripted to fail or refuse. */
function scriptedLog(script: ((records: readonly OutgoingRecord[], options?: AppendOptions) => void)[] = []) {
  const appends: string[][] = []
  let next = 0
  let gate: Promise<void> = Promise.resolve()
  let open: () => void = () => {}
  const log: Pick<Log, 'append'> = {
    async append(_topic, records, options): Promise<RecordPosition[]> {
      appends.push(records.map((r) => r.value.toString()))
      await gate
      script.shift()?.(records, options)
      const refused = new Set<number>()
      const positions: RecordPosition[] = []
      records.forEach((r, i) => {
        if (r.value.toString().startsWith('huge')) {
          options?.onRefused?.(i, 'record too large')
          refused.add(i)
        } else positions.push({ topic: 't', partition: 0, offset: next++ })
      })
      return positions
    },
  }
  return {
    log,
    appends,
    hold() {
      gate = new Promise((resolve) => {
        open = resolve
      })
    },
    release: () => open(),
  }
}

describe('GroupAppender', () => {
  it('sends the requests that arrive while an append is in flight together as the next append', async () => {
    const scripted = scriptedLog()
    const appender = new GroupAppender(scripted.log)
    scripted.hold()
    const first = appender.append('t', [record('a')])
    const rest = [appender.append('t', [record('b'), record('c')]), appender.append('t', [record('d')])]
    scripted.release()
    expect((await first).toArray()).toEqual([{ partition: 0, offset: 0 }])
    expect((await Promise.all(rest)).map((r) => r.toArray())).toEqual([
      [
        { partition: 0, offset: 1 },
        { partition: 0, offset: 2 },
      ],
      [{ partition: 0, offset: 3 }],
    ])
    expect(scripted.appends).toEqual([['a'], ['b', 'c', 'd']])
    await appender.idle()
  })

  it('reports a record the log refuses as refused, and positions the others', async () => {
    const scripted = scriptedLog()
    const appender = new GroupAppender(scripted.log)
    expect((await appender.append('t', [record('x'), record('huge'), record('y')])).toArray()).toEqual([
      { partition: 0, offset: 0 },
      { refused: 'record too large' },
      { partition: 0, offset: 1 },
    ])
  })

  it('waits out a retryable failure, resending only what the log did not acknowledge', async () => {
    const scripted = scriptedLog([
      () => {
        throw new SluiceError('KAFKA_UNAVAILABLE', 'down', { retryable: true, appended: 1 })
      },
    ])
    const changes: boolean[] = []
    const appender = new GroupAppender(scripted.log, {
      backoff: { initialMs: 1, maxMs: 1 },
      onAvailability: (available) => changes.push(available),
    })
    const results = await appender.append('t', [record('a'), record('b')])
    expect(scripted.appends).toEqual([['a', 'b'], ['b']])
    // The first record's position was acknowledged inside the failed append: known to be held, not where.
    expect(results.toArray()).toEqual([
      { partition: -1, offset: -1 },
      { partition: 0, offset: 0 },
    ])
    expect(changes).toEqual([false, true])
    expect(appender.unavailable).toBe(false)
  })

  it('gives up after appendTimeoutMs with a retryable error, resolving requests the log fully acknowledged', async () => {
    const down = () => {
      throw new SluiceError('KAFKA_UNAVAILABLE', 'down', { retryable: true })
    }
    const scripted = scriptedLog([
      () => {},
      () => {
        throw new SluiceError('KAFKA_UNAVAILABLE', 'down', { retryable: true, appended: 1 })
      },
      down,
      down,
      down,
      down,
      down,
    ])
    const appender = new GroupAppender(scripted.log, {
      appendTimeoutMs: 30,
      backoff: { initialMs: 10, maxMs: 10 },
    })
    scripted.hold()
    const first = appender.append('t', [record('a')])
    const held = appender.append('t', [record('b')])
    const lost = appender.append('t', [record('c')]).catch((e: unknown) => e)
    scripted.release()
    expect((await first).toArray()).toEqual([{ partition: 0, offset: 0 }])
    // b was acknowledged by the failed append of [b, c]; c never was.
    expect((await held).toArray()).toEqual([{ partition: -1, offset: -1 }])
    const error = await lost
    expect(error).toBeInstanceOf(SluiceError)
    expect((error as SluiceError).retryable).toBe(true)
    expect(appender.unavailable).toBe(true)
  })

  it('fails the requests of an append that failed for good, and goes on with the next', async () => {
    const scripted = scriptedLog([
      () => {
        throw new SluiceError('LOG_IO', 'disk gone')
      },
    ])
    const appender = new GroupAppender(scripted.log)
    await expect(appender.append('t', [record('a')])).rejects.toThrow('disk gone')
    expect((await appender.append('t', [record('b')])).toArray()).toEqual([{ partition: 0, offset: 0 }])
  })

  it('calls appendPositions where the log has it, and append on a decorator that overrides only append', async () => {
    const calls: string[] = []
    const base = {
      async append(topic: string, records: readonly OutgoingRecord[]): Promise<RecordPosition[]> {
        calls.push('append')
        return records.map((_, i) => ({ topic, partition: 1, offset: i }))
      },
      async appendPositions(_topic: string, records: readonly OutgoingRecord[]) {
        calls.push('appendPositions')
        return {
          partitions: new Int32Array(records.length).fill(1),
          offsets: Float64Array.from(records, (_, i) => i),
        }
      },
    }
    expect((await new GroupAppender(base).append('t', [record('a'), record('b')])).toArray()).toEqual([
      { partition: 1, offset: 0 },
      { partition: 1, offset: 1 },
    ])
    expect(calls).toEqual(['appendPositions'])
    // A fault injected the way tests inject them: the inherited appendPositions must not bypass it.
    const faulty = Object.create(base) as typeof base
    faulty.append = async () => {
      calls.push('faulty append')
      throw new Error('disk on fire')
    }
    await expect(new GroupAppender(faulty).append('t', [record('c')])).rejects.toThrow('disk on fire')
    expect(calls).toEqual(['appendPositions', 'faulty append'])
  })
})
