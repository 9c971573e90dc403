/** `sluice run`'s metrics options: --metrics-port validated as a port, --metrics-host honoured. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli as sluice } from '../test/support/capture-io.ts'
import { compileFixture } from '../test/support/compile-fixture.ts'

const PIPE = `
schema Order { id: string, qty: i64 }
source orders: Order from kafka("orders")
stream big = orders | where qty > 1
sink big -> kafka("big-orders")
`

let dir: string
let artifact: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-run-metrics-'))
  artifact = await compileFixture(PIPE, 'orders', 'orders.pipe')
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('sluice run --metrics-port / --metrics-host', () => {
  it('rejects a port over 65535 as a usage error', async () => {
    const ran = await sluice('run', artifact, '--data-dir', join(dir, 'a'), '--metrics-port', '70000')
    expect(ran.code).toBe(2)
    expect(ran.stderr).toContain('--metrics-port must be a port from 0 to 65535, got')
    expect(ran.stderr).toContain('70000')
  })

  it('rejects an empty host as a usage error', async () => {
    const ran = await sluice(
      'run',
      artifact,
      '--data-dir',
      join(dir, 'b'),
      '--metrics-port',
      '0',
      '--metrics-host',
      '',
    )
    expect(ran.code).toBe(2)
    expect(ran.stderr).toContain('--metrics-host must not be empty')
  })

  it('serves metrics on the address --metrics-host names', async () => {
    // 127.0.0.2 is loopback on Linux but not the default 127.0.0.1, so the option must be used.
    const ran = await sluice(
      'run',
      artifact,
      '--data-dir',
      join(dir, 'c'),
      '--until-caught-up',
      '--metrics-port',
      '0',
      '--metrics-host',
      '127.0.0.2',
    )
    expect(ran.code, ran.stderr).toBe(0)
    expect(ran.stderr).toMatch(/http:\/\/127\.0\.0\.2:\d+\/metrics/)
  })

  it('reports an address it cannot listen on as a configuration error', async () => {
    const ran = await sluice(
      'run',
      artifact,
      '--data-dir',
      join(dir, 'd'),
      '--metrics-port',
      '0',
      '--metrics-host',
      '192.0.2.1',
    )
    expect(ran.code).toBe(1)
    expect(ran.stderr).toContain('CONFIG_INVALID')
    expect(ran.stderr).toContain('cannot serve metrics on 192.0.2.1:0: EADDRNOTAVAIL')
  })
})
