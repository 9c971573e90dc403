import { describe, expect, it } from 'vitest'
import { SluiceError } from '../errors.ts'
import { createLogger, formatLogRecord } from './logger.ts'

describe('createLogger', () => {
  it('writes one JSON object per line with level, message, context and fields, above the threshold only', () => {
    const lines: string[] = []
    const logger = createLogger({ level: 'info', write: (line) => void lines.push(line) }).child({
      artifact: 'x',
    })
    logger.debug('hidden')
    logger.warn('dead letter', { offset: 3, error: new SluiceError('EVENT_DECODE', 'bad') })
    expect(lines).toHaveLength(1)
    expect(lines[0]!.endsWith('\n')).toBe(true)
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>
    expect(entry).toMatchObject({
      level: 'warn',
      msg: 'dead letter',
      artifact: 'x',
      offset: 3,
      error: { name: 'SluiceError', message: 'bad', code: 'EVENT_DECODE' },
    })
    expect(Number.isNaN(Date.parse(entry.time as string))).toBe(false)
  })
})

describe('text format', () => {
  const at = new Date('2026-01-02T03:04:05.678Z')

  it('writes one readable line: time, level, message, then key=value fields', () => {
    const line = formatLogRecord(
      'text',
      'warn',
      'dead letter',
      {
        offset: 3,
        topic: 'payments',
        reason: 'not JSON: x',
        error: new SluiceError('EVENT_DECODE', 'bad'),
        missing: undefined,
      },
      at,
    )
    expect(line).toBe(
      '2026-01-02T03:04:05.678Z WARN  dead letter offset=3 topic=payments reason="not JSON: x" error={"name":"SluiceError","message":"bad","code":"EVENT_DECODE"}\n',
    )
  })

  it('keeps a multi-line message on one line, so every line is one record', () => {
    const line = formatLogRecord('text', 'error', 'first\nsecond\r\nthird', {}, at)
    expect(line.split('\n')).toEqual(['2026-01-02T03:04:05.678Z ERROR first\\nsecond\\nthird', ''])
  })

  it('is what createLogger writes with format text, above the threshold only', () => {
    const lines: string[] = []
    const logger = createLogger({ level: 'warn', format: 'text', write: (l) => void lines.push(l) })
    logger.info('hidden')
    logger.child({ artifact: 'x' }).error('stopped', { code: 'LOG_IO' })
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^\S+Z ERROR stopped artifact=x code=LOG_IO\n$/)
  })
})

describe('json format', () => {
  it('never throws on a cyclic field: the fields are written as text instead', () => {
    const cyclic: Record<string, unknown> = { name: 'loop' }
    cyclic.self = cyclic
    const line = formatLogRecord('json', 'info', 'odd', { cyclic, big: 10n })
    const entry = JSON.parse(line) as Record<string, unknown>
    expect(entry).toMatchObject({ level: 'info', msg: 'odd' })
    expect(entry.fields).toContain('big=10')
  })

  it('writes bigint fields as strings', () => {
    expect(JSON.parse(formatLogRecord('json', 'info', 'n', { offset: 12345678901234567890n }))).toMatchObject(
      {
        offset: '12345678901234567890',
      },
    )
  })
})
