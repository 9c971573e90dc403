import { describe, expect, it } from 'vitest'
import { UsageError } from './args.ts'
import { nodeIdentity } from './commands/run.ts'

describe('sluice run --node-id', () => {
  it('takes the flag over $SLUICE_NODE_ID, and gives no instance id without either', () => {
    expect(nodeIdentity('pod-0', { SLUICE_NODE_ID: 'env' })).toEqual({ instanceId: 'pod-0' })
    expect(nodeIdentity(undefined, { SLUICE_NODE_ID: 'fraud-1' })).toEqual({ instanceId: 'fraud-1' })
    expect(nodeIdentity(undefined, {})).toEqual({})
    expect(nodeIdentity(undefined, { SLUICE_NODE_ID: '' })).toEqual({})
  })

  it('refuses an id that cannot be part of a Kafka client id, naming where it came from', () => {
    expect(() => nodeIdentity('pod 0', {})).toThrow(UsageError)
    expect(() => nodeIdentity('', {})).toThrow(/--node-id ""/)
    expect(() => nodeIdentity(undefined, { SLUICE_NODE_ID: 'a/b' })).toThrow(/\$SLUICE_NODE_ID "a\/b"/)
  })
})
