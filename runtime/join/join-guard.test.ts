/**
 * Until the runner has the co-partitioned tasks joins need (docs/decisions/0020), an artifact with
 * a join compiles but the runtime refuses to load it, saying why. Remove this test with the guard
 * in runtime/artifact/manifest.ts (JOIN GUARD) when the runner drives runtime/join/interval-join.ts.
 */
import { describe, expect, it } from 'vitest'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { loadArtifact } from '../artifact/load.ts'

const PIPE = `
schema Order { id: string, ts: timestamp @event_time }
schema Payment { order_id: string, ts: timestamp @event_time }
source orders: Order from kafka("orders")
source payments: Payment from kafka("payments")
stream paid = join orders as o, payments as p on o.id == p.order_id within p between 0ms after and 10m after o
sink paid -> kafka("paid")
`

describe('an artifact with a join', () => {
  it('compiles, and the runtime refuses it with the reason (ARTIFACT_INVALID)', async () => {
    const dir = await compileFixture(PIPE, 'joined')
    await expect(loadArtifact(dir)).rejects.toMatchObject({
      code: 'ARTIFACT_INVALID',
      message: expect.stringMatching(
        /paid#join is a join, which this runtime cannot run yet: joins need co-partitioned tasks/,
      ),
    })
  })
})
