import { describe, expect, it } from 'vitest'
import { checkSource } from '../frontend.ts'

function outputOf(select: string) {
  const text = `schema R { id: string, amount: f64, ts: timestamp @event_time }
source r: R from kafka("in")
stream s = r | ${select}
sink s -> kafka("out")`
  const result = checkSource('t.pipe', text)
  expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([])
  const map = result.pipeline!.nodes.find((n) => n.id === 's#1')!
  return map.schema.kind === 'record' ? map.schema.fields : []
}

describe('select with *', () => {
  it('expands to the input fields in place, renamed ones keeping their position', () => {
    expect(
      outputOf('select { x: 1, * except (amount) rename (id as `the id`), y: 2 }').map((f) => f.name),
    ).toEqual(['x', 'the id', 'ts', 'y'])
  })

  it('keeps the event-time mark on the event-time field, renamed or not', () => {
    expect(outputOf('select { * }').find((f) => f.name === 'ts')?.eventTime).toBe(true)
    expect(outputOf('select { * rename (ts as at) }').find((f) => f.name === 'at')?.eventTime).toBe(true)
  })
})
