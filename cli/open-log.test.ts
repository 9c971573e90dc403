/**
 * The Kafka connection options of the CLI, checked before any connection is made: each mistake is
 * a UsageError naming the flag or environment variable it came from. (The options against a real
 * broker: test/integration/kafka-security.test.ts.)
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { UsageError } from './args.ts'
import {
  type KafkaConnection,
  kafkaConnection,
  kafkaThroughput,
  type LogSelection,
  openLog,
} from './open-log.ts'

// A CA, a client certificate it signed with its key, and an unrelated key (EC P-256, valid for 100
// years; test material only).
const TEST_CA = `-----BEGIN CERTIFICATE-----
MIIBkzCCATmgAwIBAgIUS6f29E+0HQrnvgvc9VrAcDcumZ8wCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTU2x1aWNlIHVuaXQtdGVzdCBDQTAgFw0yNjEyMDIwMDM0NTBa
GA8yMTI2MTEwODAwMzQ1MFowHjEcMBoGA1UEAwwTU2x1aWNlIHVuaXQtdGVzdCBD
QTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABL1AGE10dLHyO62bJabNA1uHPUHX
JOzhwTGo/AuC9SK4LiV1G8fNcCN/pH7HHUkgHgyVPWWSBU+vhGca6QuZhB+jUzBR
MB0GA1UdDgQWBBSjP4X/mGDMXlB4qXIuWA9CWmHX0TAfBgNVHSMEGDAWgBSjP4X/
mGDMXlB4qXIuWA9CWmHX0TAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gA
MEUCIQCGAWJWLPs0o2yZqUJUUzzT6gaQgq2u7fsF2syiHEiarwIgNL716Nt++LhE
Q6lVbDYlGJvzDdk8XrJPRj4EZIIBZeU=
-----END CERTIFICATE-----
`
const TEST_CLIENT_CERT = `-----BEGIN CERTIFICATE-----
MIIBMjCB2QIUUHrMltIDnTIZYcqNjbGBwrRNmTwwCgYIKoZIzj0EAwIwHjEcMBoG
A1UEAwwTU2x1aWNlIHVuaXQtdGVzdCBDQTAgFw0yNjEyMDIwMDM0NTBaGA8yMTI2
MTEwODAwMzQ1MFowGDEWMBQGA1UEAwwNc2x1aWNlLWNsaWVudDBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABMZEatK8IdU65HsPu/x4jRyTeWmJzNb9CR4sTCELrrXM
SNlrdTMB9W7IYWBGnn+9VnaFrY5H9eAmrjI5BRgoXQ8wCgYIKoZIzj0EAwIDSAAw
RQIgUCZwjBKOlDUGbjd9JIr0iYq1jTVZJHJeP7JRfGneUjoCIQDf7cRAoRUWeOCC
bVDL0g5bU0f5Porwn1L3l890roJiig==
-----END CERTIFICATE-----
`
const TEST_CLIENT_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgS3KM8T8tL47+At8k
FyJaznH4WXwoy8sAJMKYSIMNJRWhRANCAATGRGrSvCHVOuR7D7v8eI0ck3lpiczW
/QkeLEwhC661zEjZa3UzAfVuyGFgRp5/vVZ2ha2OR/XgJq4yOQUYKF0P
-----END PRIVATE KEY-----
`
const OTHER_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgyJNUAPBkP0IH16n3
pUXNVbGdvIeeIHUcjodF6hNp86WhRANCAASzS2aMc6WsbTm1JfBPfZ/TdoeEYOjQ
oy9COPg9gYr/RtJnnPcISam49JRozOKbfBs2wTMrSxZIfhH8puvffcD2
-----END PRIVATE KEY-----
`

let dir: string
const file = (name: string) => join(dir, name)

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-open-log-'))
  await writeFile(file('ca.pem'), TEST_CA)
  await writeFile(file('client.pem'), TEST_CLIENT_CERT)
  await writeFile(file('client.key'), TEST_CLIENT_KEY)
  await writeFile(file('other.key'), OTHER_KEY)
  await writeFile(file('not-pem.txt'), 'hello\n')
  await writeFile(file('password'), 's3cret\nsecond line is no part of it\n')
  await writeFile(file('empty-password'), '\n')
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** kafkaConnection with only the given environment (never the test process's). */
function connection(options: LogSelection, env: NodeJS.ProcessEnv = {}): Promise<KafkaConnection> {
  return kafkaConnection(options, 'sluice-test', env)
}

async function usageError(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => {
      throw new Error('expected a usage error')
    },
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(UsageError)
  return (error as Error).message
}

describe('client id', () => {
  it("defaults to the command's, made safe for Kafka; the flag beats $SLUICE_KAFKA_CLIENT_ID", async () => {
    expect(await connection({})).toEqual({ clientId: 'sluice-test' })
    expect((await kafkaConnection({}, 'sluice.fraud checks/v2', {})).clientId).toBe('sluice.fraud-checks-v2')
    expect((await connection({}, { SLUICE_KAFKA_CLIENT_ID: 'from-env' })).clientId).toBe('from-env')
    expect(
      (await connection({ 'kafka-client-id': 'from-flag' }, { SLUICE_KAFKA_CLIENT_ID: 'from-env' })).clientId,
    ).toBe('from-flag')
  })

  it('refuses characters quotas and metrics cannot key on, naming the source', async () => {
    expect(await usageError(connection({ 'kafka-client-id': 'a b' }))).toMatch(/^--kafka-client-id "a b"/)
    expect(await usageError(connection({ 'kafka-client-id': '' }))).toContain('--kafka-client-id')
    expect(await usageError(connection({}, { SLUICE_KAFKA_CLIENT_ID: 'x'.repeat(256) }))).toMatch(
      /^\$SLUICE_KAFKA_CLIENT_ID/,
    )
  })
})

describe('TLS', () => {
  it('--kafka-tls (or $SLUICE_KAFKA_TLS=1) verifies against the default CAs', async () => {
    expect((await connection({ 'kafka-tls': true })).tls).toBe(true)
    expect((await connection({}, { SLUICE_KAFKA_TLS: 'true' })).tls).toBe(true)
    expect((await connection({}, { SLUICE_KAFKA_TLS: '0' })).tls).toBeUndefined()
    expect(await usageError(connection({}, { SLUICE_KAFKA_TLS: 'maybe' }))).toContain('$SLUICE_KAFKA_TLS')
  })

  it('--kafka-ca implies TLS and passes the PEM; a client certificate goes with its own key', async () => {
    expect((await connection({ 'kafka-ca': file('ca.pem') })).tls).toEqual({ ca: TEST_CA })
    expect(
      (await connection({ 'kafka-cert': file('client.pem'), 'kafka-key': file('client.key') })).tls,
    ).toEqual({ cert: TEST_CLIENT_CERT, key: TEST_CLIENT_KEY })
    expect(
      (
        await connection(
          {},
          {
            SLUICE_KAFKA_CA: file('ca.pem'),
            SLUICE_KAFKA_CERT: file('client.pem'),
            SLUICE_KAFKA_KEY: file('client.key'),
          },
        )
      ).tls,
    ).toEqual({ ca: TEST_CA, cert: TEST_CLIENT_CERT, key: TEST_CLIENT_KEY })
  })

  it('explains a missing or non-PEM file, naming the flag or variable', async () => {
    expect(await usageError(connection({ 'kafka-ca': file('missing.pem') }))).toBe(
      `cannot read --kafka-ca ${file('missing.pem')}: ENOENT`,
    )
    expect(await usageError(connection({}, { SLUICE_KAFKA_CA: file('not-pem.txt') }))).toBe(
      `$SLUICE_KAFKA_CA ${file('not-pem.txt')} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
    )
    expect(
      await usageError(connection({ 'kafka-cert': file('client.pem'), 'kafka-key': file('ca.pem') })),
    ).toMatch(/^--kafka-key .*ca\.pem: not a PEM private key/)
  })

  it('refuses a certificate without its key, a key of another certificate, and insecure with a CA', async () => {
    expect(await usageError(connection({ 'kafka-cert': file('client.pem') }))).toBe(
      '--kafka-cert needs a --kafka-key too: a client certificate goes with its private key',
    )
    expect(await usageError(connection({}, { SLUICE_KAFKA_KEY: file('client.key') }))).toMatch(
      /^\$SLUICE_KAFKA_KEY needs a --kafka-cert too/,
    )
    expect(
      await usageError(connection({ 'kafka-cert': file('client.pem'), 'kafka-key': file('other.key') })),
    ).toBe(`--kafka-key ${file('other.key')} is not the private key of --kafka-cert ${file('client.pem')}`)
    expect(
      await usageError(connection({ 'kafka-ca': file('ca.pem'), 'kafka-tls-insecure': true })),
    ).toContain('--kafka-tls-insecure turns off the check that --kafka-ca is for')
    expect((await connection({ 'kafka-tls-insecure': true })).tls).toEqual({ insecure: true })
  })
})

describe('SASL', () => {
  it("takes the password from the file's first line, else $SLUICE_KAFKA_PASSWORD", async () => {
    expect(
      (
        await connection({
          'kafka-sasl': 'SCRAM-SHA-512',
          'kafka-user': 'alice',
          'kafka-password-file': file('password'),
        })
      ).sasl,
    ).toEqual({ mechanism: 'scram-sha-512', username: 'alice', password: 's3cret' })
    expect(
      (
        await connection(
          {},
          { SLUICE_KAFKA_SASL: 'plain', SLUICE_KAFKA_USER: 'bob', SLUICE_KAFKA_PASSWORD: 'from env' },
        )
      ).sasl,
    ).toEqual({ mechanism: 'plain', username: 'bob', password: 'from env' })
    // An explicit file beats the variable.
    expect(
      (
        await connection(
          { 'kafka-sasl': 'plain', 'kafka-user': 'bob', 'kafka-password-file': file('password') },
          { SLUICE_KAFKA_PASSWORD: 'from env' },
        )
      ).sasl?.password,
    ).toBe('s3cret')
  })

  it('refuses an unknown mechanism, a login without user or password, and a user without a mechanism', async () => {
    expect(await usageError(connection({ 'kafka-sasl': 'gssapi', 'kafka-user': 'a' }))).toBe(
      '--kafka-sasl "gssapi": unknown SASL mechanism (expected plain, scram-sha-256, scram-sha-512)',
    )
    expect(await usageError(connection({ 'kafka-sasl': 'plain' }, { SLUICE_KAFKA_PASSWORD: 'x' }))).toBe(
      '--kafka-sasl plain needs a user: --kafka-user NAME or $SLUICE_KAFKA_USER',
    )
    expect(await usageError(connection({ 'kafka-sasl': 'plain', 'kafka-user': 'a' }))).toMatch(
      /^--kafka-sasl plain needs a password: --kafka-password-file FILE, .*\(never an argument/,
    )
    expect(
      await usageError(
        connection({
          'kafka-sasl': 'plain',
          'kafka-user': 'a',
          'kafka-password-file': file('empty-password'),
        }),
      ),
    ).toBe(`--kafka-password-file ${file('empty-password')}: the first line is empty`)
    expect(await usageError(connection({ 'kafka-user': 'a' }))).toBe(
      '--kafka-user is for a SASL login: give --kafka-sasl plain|scram-sha-256|scram-sha-512 too',
    )
    expect(await usageError(connection({}, { SLUICE_KAFKA_PASSWORD: 'x' }))).toMatch(
      /^\$SLUICE_KAFKA_PASSWORD is for a SASL login/,
    )
  })
})

describe('throughput options', () => {
  it('takes --kafka-parallel and --kafka-compression, else their variables, else leaves the defaults', () => {
    expect(kafkaThroughput({}, {})).toEqual({})
    expect(kafkaThroughput({ 'kafka-parallel': '2', 'kafka-compression': 'gzip' }, {})).toEqual({
      partitionsInParallel: 2,
      compression: 'gzip',
    })
    const env = { SLUICE_KAFKA_PARALLEL: '8', SLUICE_KAFKA_COMPRESSION: 'none' }
    expect(kafkaThroughput({}, env)).toEqual({ partitionsInParallel: 8, compression: 'none' })
    expect(kafkaThroughput({ 'kafka-parallel': '1' }, env).partitionsInParallel).toBe(1)
  })

  it('refuses a count that is not a positive number and an unknown codec, naming the source', () => {
    for (const bad of ['0', '-1', '2.5', 'many']) {
      expect(() => kafkaThroughput({ 'kafka-parallel': bad }, {})).toThrow(UsageError)
    }
    expect(() => kafkaThroughput({}, { SLUICE_KAFKA_PARALLEL: '0' })).toThrow(/\$SLUICE_KAFKA_PARALLEL "0"/)
    expect(() => kafkaThroughput({ 'kafka-compression': 'zstd' }, {})).toThrow(/--kafka-compression "zstd"/)
  })
})

describe('openLog', () => {
  it('refuses Kafka options without Kafka, and a --kafka that names no broker, before opening anything', async () => {
    const embedded = join(dir, 'never-created')
    expect(await usageError(openLog({ 'data-dir': embedded, 'kafka-tls': true }))).toBe(
      '--kafka-tls needs --kafka BROKERS (or $SLUICE_KAFKA_BROKERS)',
    )
    expect(await usageError(openLog({ kafka: ' ' }))).toBe('--kafka names no broker')
    expect(await usageError(openLog({ kafka: ',' }))).toBe('no Kafka broker in ","')
    expect(
      await usageError(openLog({ kafka: '127.0.0.1:1', 'kafka-sasl': 'plain', 'kafka-user': 'a' })),
    ).toContain('needs a password')
  })
})
