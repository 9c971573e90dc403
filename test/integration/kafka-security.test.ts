/**
 * The CLI against the real broker's SASL and TLS listeners (scripts/servers/kafka.sh): records go
 * in with `sluice produce` and come back with `sluice consume` (and through `sluice run`) for each
 * of SASL PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and mutual TLS verified against the broker's CA; a
 * wrong password and an untrusted CA each fail with KAFKA_AUTH naming the broker and mechanism.
 */
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Kafka, logLevel } from 'kafkajs'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { CommandIO } from '../../cli/command.ts'
import { main } from '../../cli/main.ts'
import { runCli } from '../support/capture-io.ts'
import { compileFixture } from '../support/compile-fixture.ts'
import { kafkaBrokers, secureListeners, TEST_SASL_USERS, uniqueName } from './kafka-env.ts'

const listeners = secureListeners()
const tlsFile = (name: string) => join(listeners.tlsDir, name)
/** Mutual TLS as the broker's SSL listener requires it. */
const TLS_ARGS = [
  '--kafka',
  listeners.tls,
  '--kafka-ca',
  tlsFile('ca.pem'),
  '--kafka-cert',
  tlsFile('client.pem'),
  '--kafka-key',
  tlsFile('client.key'),
]

const EVENTS = [
  { id: 'a', amount: 10 },
  { id: 'b', amount: 2000 },
  { id: 'c', amount: 3000 },
]
let scratch: string
let eventsFile: string

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'sluice-kafka-security-'))
  eventsFile = join(scratch, 'events.jsonl')
  await writeFile(eventsFile, `${EVENTS.map((e) => JSON.stringify(e)).join('\n')}\n`)
})

const savedPassword = process.env.SLUICE_KAFKA_PASSWORD
afterEach(() => {
  if (savedPassword === undefined) delete process.env.SLUICE_KAFKA_PASSWORD
  else process.env.SLUICE_KAFKA_PASSWORD = savedPassword
})

async function passwordFile(password: string): Promise<string> {
  const file = join(scratch, `${uniqueName('password')}.txt`)
  await writeFile(file, `${password}\n`, { mode: 0o600 })
  return file
}

async function ok(...argv: string[]): Promise<{ stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await runCli(...argv)
  expect(code, stderr).toBe(0)
  return { stdout, stderr }
}

/** Produces EVENTS to a new topic and consumes them back, both with `connection`; produce's stderr. */
async function roundTrip(connection: readonly string[]): Promise<string> {
  const topic = uniqueName('secure')
  const produced = await ok('produce', topic, '--file', eventsFile, '--log-format', 'text', ...connection)
  expect(produced.stderr).toContain('3 records appended to Kafka at')
  const consumed = await ok('consume', topic, ...connection)
  expect(
    consumed.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line)),
  ).toEqual(EVENTS)
  return produced.stderr
}

describe('SASL', () => {
  for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512'] as const) {
    it(`produces and consumes with SASL ${mechanism.toUpperCase()} (password from a file)`, async () => {
      const { user, password } = TEST_SASL_USERS[mechanism]
      const stderr = await roundTrip([
        '--kafka',
        listeners.sasl,
        '--kafka-sasl',
        mechanism,
        '--kafka-user',
        user,
        '--kafka-password-file',
        await passwordFile(password),
      ])
      // The listener is SASL_PLAINTEXT: PLAIN's password crosses the network readable, and says so.
      const warned = stderr.includes('SASL PLAIN without TLS sends the password to the brokers in clear text')
      expect(warned).toBe(mechanism === 'plain')
    })
  }

  it('takes the password from $SLUICE_KAFKA_PASSWORD', async () => {
    const { user, password } = TEST_SASL_USERS['scram-sha-256']
    process.env.SLUICE_KAFKA_PASSWORD = password
    await roundTrip(['--kafka', listeners.sasl, '--kafka-sasl', 'scram-sha-256', '--kafka-user', user])
  })

  it('a wrong password is KAFKA_AUTH naming the broker, the mechanism and the user, without a stack', async () => {
    const { user } = TEST_SASL_USERS['scram-sha-512']
    const { code, stdout, stderr } = await runCli(
      'produce',
      uniqueName('never'),
      '--file',
      eventsFile,
      '--log-format',
      'text',
      '--kafka',
      listeners.sasl,
      '--kafka-sasl',
      'scram-sha-512',
      '--kafka-user',
      user,
      '--kafka-password-file',
      await passwordFile('not-the-password'),
    )
    expect(code).toBe(1)
    expect(stdout).toBe('')
    expect(stderr).toContain('error[KAFKA_AUTH]')
    expect(stderr).toContain(`Kafka at ${listeners.sasl} refused SASL SCRAM-SHA-512 authentication`)
    expect(stderr).toContain(`user '${user}'`)
    expect(stderr).not.toContain('not-the-password')
    expect(stderr).not.toMatch(/\n\s+at /)
  })
})

describe('TLS', () => {
  it('produces, runs a pipeline and consumes over mutual TLS verified against the CA', async () => {
    const input = uniqueName('tls-in')
    const output = uniqueName('tls-out')
    const artifact = await compileFixture(
      `schema Payment { id: string, amount: f64 }
source payments: Payment from kafka("${input}")
stream large = payments | where amount >= 1000.0
sink large -> kafka("${output}")
`,
      'tls-payments',
    )
    await ok('produce', input, '--file', eventsFile, ...TLS_ARGS)
    await ok('run', artifact, '--until-caught-up', '--group', uniqueName('g'), ...TLS_ARGS)
    const consumed = await ok('consume', output, ...TLS_ARGS)
    expect(
      consumed.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line)),
    ).toEqual(EVENTS.slice(1))
  })

  it('a broker certificate from another CA is KAFKA_AUTH naming the broker, without a stack', async () => {
    const { code, stderr } = await runCli(
      'consume',
      uniqueName('never'),
      '--log-format',
      'text',
      '--kafka',
      listeners.tls,
      '--kafka-ca',
      tlsFile('untrusted-ca.pem'),
      '--kafka-cert',
      tlsFile('client.pem'),
      '--kafka-key',
      tlsFile('client.key'),
    )
    expect(code).toBe(1)
    expect(stderr).toContain('error[KAFKA_AUTH]')
    expect(stderr).toContain(`TLS with Kafka broker ${listeners.tls} failed`)
    expect(stderr).toContain("the broker's certificate is not signed by a trusted CA")
    expect(stderr).not.toMatch(/\n\s+at /)
  })

  it('without the client certificate the broker requires, KAFKA_AUTH says so', async () => {
    const { code, stderr } = await runCli(
      'consume',
      uniqueName('never'),
      '--log-format',
      'text',
      '--kafka',
      listeners.tls,
      '--kafka-ca',
      tlsFile('ca.pem'),
    )
    expect(code).toBe(1)
    expect(stderr).toContain('error[KAFKA_AUTH]')
    expect(stderr).toContain('the broker refused the client certificate (or requires one and none was given)')
  })
})

describe('logs of sluice run on Kafka', () => {
  it('--log-format json: every stderr line is one JSON object, kafkajs lines and the summary too', async () => {
    const input = uniqueName('json-in')
    const artifact = await compileFixture(
      `schema Payment { id: string, amount: f64 }
source payments: Payment from kafka("${input}")
stream large = payments | where amount >= 1000.0
sink large -> kafka("${uniqueName('json-out')}")
`,
      'json-logs',
    )
    await ok('produce', input, '--file', eventsFile, ...TLS_ARGS)
    // debug: kafkajs's own lines (connecting, joining the group) come through the logger too.
    const { stderr } = await ok(
      'run',
      artifact,
      '--until-caught-up',
      '--group',
      uniqueName('g'),
      '--log-format',
      'json',
      '--log-level',
      'debug',
      ...TLS_ARGS,
    )
    const lines = stderr.split('\n')
    expect(lines.pop()).toBe('')
    const records = lines.map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>
      } catch {
        throw new Error(`stderr line is not JSON: ${line}`)
      }
    })
    for (const record of records)
      expect(record).toMatchObject({ level: expect.any(String), msg: expect.any(String) })
    expect(records.some((r) => r.component === 'kafkajs')).toBe(true)
    expect(records.find((r) => String(r.msg).startsWith('processed '))).toMatchObject({
      msg: expect.stringMatching(/^processed 3 events/),
      eventsIn: 3,
      eventsOut: 2,
    })
  })

  it('a usage error of `run --log-format json` is a JSON line too', async () => {
    const { code, stderr } = await runCli('run', '--log-format', 'json', '--kafka', listeners.tls)
    expect(code).toBe(2)
    expect(JSON.parse(stderr)).toMatchObject({ level: 'error', code: 'USAGE', command: 'run' })
  })
})

describe('client id', () => {
  it('reaches the broker: the consumer group lists the running node under --kafka-client-id', async () => {
    const input = uniqueName('cid-in')
    const group = uniqueName('g')
    const artifact = await compileFixture(
      `schema Payment { id: string, amount: f64 }
source payments: Payment from kafka("${input}")
sink payments -> kafka("${uniqueName('cid-out')}")
`,
      'client-id',
    )
    await ok('produce', input, '--file', eventsFile, ...TLS_ARGS)
    let stop!: () => void
    let stderr = ''
    const io: CommandIO = {
      stdout: () => {},
      stderr: (text) => {
        stderr += text
      },
      color: false,
      interrupted: new Promise<void>((resolve) => {
        stop = resolve
      }),
    }
    const running = main(
      [
        'run',
        artifact,
        '--group',
        group,
        '--kafka-client-id',
        'fraud-eu-1',
        '--log-level',
        'warn',
        ...TLS_ARGS,
      ],
      io,
    )
    try {
      const members = await waitForMembers(group)
      expect(members.map((m) => m.clientId)).toEqual(['fraud-eu-1'])
    } finally {
      stop()
    }
    expect(await running, stderr).toBe(0)
  })
})

/** The members of a consumer group, once it has one (through the plaintext listener). */
async function waitForMembers(group: string): Promise<{ clientId: string }[]> {
  const admin = new Kafka({
    brokers: kafkaBrokers(),
    clientId: 'sluice-test',
    logLevel: logLevel.NOTHING,
  }).admin()
  await admin.connect()
  try {
    for (let attempt = 0; attempt < 200; attempt++) {
      const { groups } = await admin.describeGroups([group])
      const members = groups[0]?.members ?? []
      if (groups[0]?.state === 'Stable' && members.length > 0) return members
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    throw new Error(`group ${group} got no member`)
  } finally {
    await admin.disconnect()
  }
}
