import { describe, expect, it } from 'vitest'
import { SluiceError } from '../errors.ts'
import { createLogger } from './logger.ts'

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
