/** Only a chain that calls a record metadata function looks its events' source records up. */
import { describe, expect, it } from 'vitest'
import { stdlib } from '../../stdlib/index.ts'
import { checkSource } from '../frontend.ts'
import { optimise } from '../passes/optimise.ts'
import { generateModule } from './generate.ts'

function generated(select: string): string {
  const text = `schema E { id: string, n: i64 }
source events: E from kafka("events")
stream s = events | where n > 0 | select ${select}
sink s -> kafka("out")
`
  const { pipeline } = checkSource('metadata.pipe', text)
  if (!pipeline) throw new Error('does not check')
  return generateModule(optimise(pipeline), stdlib, 'test').typescript
}

describe('record metadata in generated chains', () => {
  it('leaves the loop of a chain that reads no metadata as it was', () => {
    expect(generated('{ id, n }')).not.toContain('records![')
  })

  it('binds the source record once per event in a chain that reads it', () => {
    const code = generated('{ id, offset: record_offset(), tenant: record_header("tenant") }')
    expect(code).toContain('const rec = records![origins[i]!]!')
    expect(code).toMatch(/fn_record_offset\(rec\)/)
    expect(code).toMatch(/fn_record_header\(rec, "tenant"\)/)
  })
})
