import { describe, expect, it } from 'vitest'
import { LONE_SURROGATE_TEXT_REASON, unwritableRecordText } from './record-text.ts'

describe('the key and headers of a record a sink writes', () => {
  it('are writable when every string is whole characters, surrogate pairs included', () => {
    expect(unwritableRecordText('k😀', { a: 'é', b: '😀' })).toBeNull()
    expect(unwritableRecordText(null, undefined)).toBeNull()
    expect(unwritableRecordText('', {})).toBeNull()
  })

  it('name a key holding a lone surrogate, before any header', () => {
    expect(unwritableRecordText('\ud800', { a: '\udc00' })).toBe(`record key: ${LONE_SURROGATE_TEXT_REASON}`)
    expect(unwritableRecordText('a\ude00', undefined)).toBe(`record key: ${LONE_SURROGATE_TEXT_REASON}`)
  })

  it('name the first header, in order, holding a lone surrogate', () => {
    expect(unwritableRecordText('k', { ok: 'x', 'trace-id': 'a\ud83d', last: '\ud800' })).toBe(
      `header "trace-id": ${LONE_SURROGATE_TEXT_REASON}`,
    )
  })
})
