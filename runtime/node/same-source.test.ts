import { describe, expect, it } from 'vitest'
import { createEventBatch, type EventBatch, pushEvent } from '../artifact/operators.ts'
import { HeldInputs, mergeByRecord, mergedInputNodes } from './same-source.ts'

interface N {
  readonly id: string
  readonly inputs: readonly string[]
}

const graph = (nodes: readonly N[]) => ({
  nodes,
  id: (n: N) => n.id,
  inputsOf: (n: N) => n.inputs,
  isSource: (n: N) => n.inputs.length === 0,
})

function batch(...events: [value: string, origin: number][]): EventBatch {
  const out = createEventBatch()
  for (const [value, origin] of events) pushEvent(out, value, null, 0, origin)
  return out
}

describe('mergedInputNodes', () => {
  it('finds the operators one source reaches through two inputs, also through a chain or twice by one input', () => {
    const merged = mergedInputNodes(
      graph([
        { id: 'p', inputs: [] },
        { id: 'q', inputs: [] },
        { id: 'big', inputs: ['p'] },
        { id: 'small', inputs: ['p'] },
        { id: 'split', inputs: ['big', 'small'] },
        { id: 'twice', inputs: ['q', 'q'] },
        { id: 'two-sources', inputs: ['big', 'q'] },
        { id: 'after', inputs: ['two-sources', 'small'] },
      ]),
    )
    expect([...merged].sort()).toEqual(['after', 'split', 'twice'])
  })
})

describe('HeldInputs and mergeByRecord', () => {
  it('copies what it holds, so a chain reusing its output batch does not change it', () => {
    const held = new HeldInputs()
    const reused = batch(['a', 0])
    held.hold('u', 0, reused)
    reused.values[0] = 'changed'
    expect(held.takeFirst(['u'])!.inputs[0]!.batch.values).toEqual(['a'])
  })

  it('takes the first node in graph order, and each node once', () => {
    const held = new HeldInputs()
    held.hold('later', 0, batch(['x', 0]))
    held.hold('first', 1, batch(['y', 0]))
    expect(held.takeFirst(['first', 'later'])!.nodeId).toBe('first')
    expect(held.takeFirst(['first', 'later'])!.nodeId).toBe('later')
    expect(held.takeFirst(['first', 'later'])).toBeNull()
  })

  it('merges by source record, then input slot, then arrival; pieces held apart are put in record order', () => {
    const held = new HeldInputs()
    held.hold('u', 1, batch(['h0', 0], ['h2', 2]))
    held.hold('u', 0, batch(['o1', 1], ['o2a', 2]))
    held.hold('u', 0, batch(['o0', 0], ['o2b', 2]))
    const { inputs } = held.takeFirst(['u'])!
    expect(mergeByRecord(inputs).values).toEqual(['o0', 'h0', 'o1', 'o2a', 'o2b', 'h2'])
    expect(mergeByRecord(inputs).origins).toEqual([0, 0, 1, 2, 2, 2])
  })
})
