/**
 * Kafka clients side by side against one broker: produce and consume msg/s, the client's
 * CPU-seconds per million records and the broker's (issue 15; docs/decisions/0027-kafka-client.md).
 *
 *   npm run bench:kafka-clients -- --kafka 127.0.0.1:19092            # or $SLUICE_KAFKA_BROKERS
 *   npm run bench:kafka-clients -- --records 1000000 --runs 3 --out benchmarks/reports
 *
 * Every client is measured with the guarantees Sluice needs: an idempotent producer with acks=all,
 * records sent with an explicit partition, one send of `--batch` records awaited at a time (one
 * request in flight per partition, so order holds whatever the client does on a retry), and a
 * consumer in a fresh group reading read_committed from the earliest offset. The topic has
 * `--partitions` partitions; each send covers all of them (records round-robin). Consume reads a
 * topic filled beforehand (untimed) until it has every record.
 *
 * Clients: kafkajs (Sluice's) and @platformatic/kafka (a pinned devDependency, loaded by name: a
 * checkout without it measures kafkajs alone and says so). Client CPU is process.cpuUsage() of this
 * process around the timed part; the broker's is its process's utime + stime from /proc/<pid>/stat
 * (`--broker-pid`, else the pid file of scripts/servers/kafka.sh), so run it against a local
 * broker. Figures are medians over runs; on a shared machine CPU-seconds are steadier than rates.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { cpus, loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { Kafka, logLevel } from 'kafkajs'

const REPO = resolve(import.meta.dirname, '..')
const PLATFORMATIC = '@platformatic/kafka'

interface Options {
  readonly brokers: string[]
  readonly records: number
  readonly runs: number
  readonly batch: number
  readonly partitions: number
  readonly valueBytes: number
  readonly brokerPid: number | undefined
}

/** One timed direction of one client. */
interface Measurement {
  readonly seconds: number
  readonly clientCpuSeconds: number
  readonly brokerCpuSeconds: number | null
}

/** A client under test: produce `count` records to `topic`, or consume them all from it. */
interface ClientUnderTest {
  readonly name: string
  produce(topic: string, values: readonly Buffer[], options: Options): Promise<void>
  consume(topic: string, count: number, options: Options): Promise<void>
}

const kafkajsClient: ClientUnderTest = {
  name: 'kafkajs 2.2.4',
  async produce(topic, values, options) {
    const kafka = new Kafka({
      clientId: 'sluice-bench',
      brokers: options.brokers,
      logLevel: logLevel.NOTHING,
    })
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
    })
    await producer.connect()
    try {
      for (let from = 0; from < values.length; from += options.batch) {
        const messages = values
          .slice(from, from + options.batch)
          .map((value, i) => ({ value, partition: (from + i) % options.partitions }))
        await producer.send({ topic, messages, acks: -1 })
      }
    } finally {
      await producer.disconnect()
    }
  },
  async consume(topic, count, options) {
    const kafka = new Kafka({
      clientId: 'sluice-bench',
      brokers: options.brokers,
      logLevel: logLevel.NOTHING,
    })
    const consumer = kafka.consumer({
      groupId: `bench-${randomBytes(4).toString('hex')}`,
      readUncommitted: false,
    })
    await consumer.connect()
    try {
      await consumer.subscribe({ topics: [topic], fromBeginning: true })
      let seen = 0
      await new Promise<void>((done, fail) => {
        consumer
          .run({
            autoCommit: false,
            eachBatch: async ({ batch }) => {
              seen += batch.messages.length
              if (seen >= count) done()
            },
          })
          .catch(fail)
      })
    } finally {
      await consumer.disconnect()
    }
  },
}

/** The parts of @platformatic/kafka 1.x used here. */
interface PlatformaticModule {
  Producer: new (
    options: object,
  ) => {
    send(options: { messages: { topic: string; partition: number; value: Buffer }[] }): Promise<unknown>
    close(): Promise<void>
  }
  Consumer: new (
    options: object,
  ) => {
    consume(options: object): Promise<NodeJS.ReadableStream & { close(): Promise<void> }>
    close(force?: boolean): Promise<void>
  }
}

function platformaticClient(module: PlatformaticModule, version: string): ClientUnderTest {
  return {
    name: `@platformatic/kafka ${version}`,
    async produce(topic, values, options) {
      const producer = new module.Producer({
        clientId: 'sluice-bench',
        bootstrapBrokers: options.brokers,
        idempotent: true,
        acks: -1,
        autocreateTopics: false,
      })
      try {
        for (let from = 0; from < values.length; from += options.batch) {
          const messages = values
            .slice(from, from + options.batch)
            .map((value, i) => ({ topic, value, partition: (from + i) % options.partitions }))
          await producer.send({ messages })
        }
      } finally {
        await producer.close()
      }
    },
    async consume(topic, count, options) {
      const consumer = new module.Consumer({
        clientId: 'sluice-bench',
        bootstrapBrokers: options.brokers,
        groupId: `bench-${randomBytes(4).toString('hex')}`,
      })
      try {
        const stream = await consumer.consume({
          topics: [topic],
          mode: 'earliest',
          autocommit: false,
          isolationLevel: 1,
          maxWaitTime: 500,
        })
        let seen = 0
        await new Promise<void>((done, fail) => {
          stream.on('data', () => {
            if (++seen === count) done()
          })
          stream.on('error', fail)
        })
        await stream.close()
      } finally {
        await consumer.close(true)
      }
    },
  }
}

async function loadPlatformatic(): Promise<ClientUnderTest | string> {
  try {
    const module = (await import(PLATFORMATIC)) as PlatformaticModule
    const pkg = JSON.parse(
      await readFile(join(REPO, 'node_modules', PLATFORMATIC, 'package.json'), 'utf8').catch(() =>
        readFile(join(import.meta.dirname, 'node_modules', PLATFORMATIC, 'package.json'), 'utf8'),
      ),
    ) as { version: string }
    return platformaticClient(module, pkg.version)
  } catch (error) {
    return `${PLATFORMATIC} not measured: ${(error as Error).message}`
  }
}

async function measure(options: Options, work: () => Promise<void>): Promise<Measurement> {
  const broker = processCpuSeconds(options.brokerPid)
  const cpu = process.cpuUsage()
  const started = performance.now()
  await work()
  const seconds = (performance.now() - started) / 1000
  const used = process.cpuUsage(cpu)
  const brokerAfter = processCpuSeconds(options.brokerPid)
  return {
    seconds,
    clientCpuSeconds: (used.user + used.system) / 1e6,
    brokerCpuSeconds: broker === null || brokerAfter === null ? null : brokerAfter - broker,
  }
}

async function createTopic(options: Options, topic: string): Promise<void> {
  const kafka = new Kafka({ clientId: 'sluice-bench', brokers: options.brokers, logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  try {
    await admin.createTopics({
      topics: [{ topic, numPartitions: options.partitions, replicationFactor: -1 }],
      waitForLeaders: true,
    })
  } finally {
    await admin.disconnect()
  }
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

interface Row {
  readonly client: string
  readonly direction: 'produce' | 'consume'
  readonly runs: readonly Measurement[]
}

function summarizeRow(row: Row, records: number) {
  const perMillion = (s: number) => (s * 1e6) / records
  const brokers = row.runs.map((r) => r.brokerCpuSeconds).filter((s): s is number => s !== null)
  return {
    client: row.client,
    direction: row.direction,
    messagesPerSecond: median(row.runs.map((r) => records / r.seconds)),
    clientCpuSecondsPerMillion: median(row.runs.map((r) => perMillion(r.clientCpuSeconds))),
    brokerCpuSecondsPerMillion: brokers.length === row.runs.length ? median(brokers.map(perMillion)) : null,
    runs: row.runs.map((r) => ({
      messagesPerSecond: records / r.seconds,
      clientCpuSeconds: r.clientCpuSeconds,
      brokerCpuSeconds: r.brokerCpuSeconds,
    })),
  }
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      kafka: { type: 'string' },
      records: { type: 'string', default: '300000' },
      runs: { type: 'string', default: '3' },
      batch: { type: 'string', default: '1000' },
      partitions: { type: 'string', default: '6' },
      'value-bytes': { type: 'string', default: '200' },
      'broker-pid': { type: 'string' },
      out: { type: 'string', default: join(import.meta.dirname, 'reports') },
    },
  })
  const brokersText = args.kafka ?? process.env.SLUICE_KAFKA_BROKERS ?? ''
  const brokers = brokersText
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean)
  if (brokers.length === 0) throw new Error('give --kafka BROKERS (or $SLUICE_KAFKA_BROKERS)')
  const options: Options = {
    brokers,
    records: Number(args.records),
    runs: Number(args.runs),
    batch: Number(args.batch),
    partitions: Number(args.partitions),
    valueBytes: Number(args['value-bytes']),
    brokerPid: brokerPid(args['broker-pid']),
  }
  for (const [key, value] of Object.entries(options)) {
    if (typeof value === 'number' && !(Number.isInteger(value) && value > 0))
      throw new RangeError(`--${key} must be a positive integer, got ${value}`)
  }
  const loadAtStart = loadavg()
  const platformatic = await loadPlatformatic()
  const clients = [kafkajsClient, ...(typeof platformatic === 'string' ? [] : [platformatic])]
  if (typeof platformatic === 'string') process.stderr.write(`${platformatic}\n`)

  const payload = randomBytes(options.valueBytes)
  const values = Array.from({ length: options.records }, (_, i) => {
    const value = Buffer.from(payload)
    value.writeUInt32BE(i, 0)
    return value
  })
  const rows = new Map<string, Row & { runs: Measurement[] }>()
  const row = (client: string, direction: Row['direction']) => {
    const key = `${client}/${direction}`
    let r = rows.get(key)
    if (r === undefined) {
      r = { client, direction, runs: [] }
      rows.set(key, r)
    }
    return r
  }
  // A topic filled once for the consumers (untimed), written by kafkajs.
  const filled = `bench.clients.source.${randomBytes(3).toString('hex')}`
  await createTopic(options, filled)
  await kafkajsClient.produce(filled, values, options)
  for (let run = 1; run <= options.runs; run++) {
    // Alternating the order from run to run spreads a machine's changing load over both clients.
    const order = run % 2 === 1 ? clients : [...clients].reverse()
    for (const client of order) {
      const topic = `bench.clients.${randomBytes(4).toString('hex')}`
      await createTopic(options, topic)
      const produced = await measure(options, () => client.produce(topic, values, options))
      row(client.name, 'produce').runs.push(produced)
      const consumed = await measure(options, () => client.consume(filled, options.records, options))
      row(client.name, 'consume').runs.push(consumed)
      process.stderr.write(
        `run ${run}: ${client.name}: produce ${rate(options.records / produced.seconds)}/s (${produced.clientCpuSeconds.toFixed(2)} CPU-s), consume ${rate(options.records / consumed.seconds)}/s (${consumed.clientCpuSeconds.toFixed(2)} CPU-s)\n`,
      )
    }
  }
  const results = [...rows.values()].map((r) => summarizeRow(r, options.records))
  const report = {
    name: 'kafka-clients',
    date: new Date().toISOString(),
    node: process.version,
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
    loadAverage: { atStart: loadAtStart, atEnd: loadavg() },
    parameters: { ...options, brokerPid: options.brokerPid ?? 'not measured' },
    notMeasured: typeof platformatic === 'string' ? platformatic : null,
    results,
  }
  const lines = [
    '# Kafka clients: produce and consume, client and broker CPU',
    '',
    `${options.records.toLocaleString('en-US')} records of ${options.valueBytes} bytes, ${options.partitions} partitions, sends of ${options.batch} records (idempotent, acks=all, one in flight), consumers read_committed in a fresh group; medians of ${options.runs} runs. Node ${process.version}, ${report.cpus}; load average ${loadAtStart.map((l) => l.toFixed(2)).join(' ')} at start, ${report.loadAverage.atEnd.map((l) => l.toFixed(2)).join(' ')} at end.`,
    '',
    '| client | direction | msg/s | client CPU-s per 1M | broker CPU-s per 1M |',
    '| --- | --- | ---: | ---: | ---: |',
    ...results.map(
      (r) =>
        `| ${r.client} | ${r.direction} | ${rate(r.messagesPerSecond)} | ${r.clientCpuSecondsPerMillion.toFixed(2)} | ${r.brokerCpuSecondsPerMillion === null ? '—' : r.brokerCpuSecondsPerMillion.toFixed(2)} |`,
    ),
    '',
    ...(report.notMeasured ? [report.notMeasured, ''] : []),
  ]
  await mkdir(args.out, { recursive: true })
  await writeFile(join(args.out, 'kafka-clients.json'), `${JSON.stringify(report, null, 2)}\n`)
  await writeFile(join(args.out, 'kafka-clients.md'), `${lines.join('\n')}\n`)
  process.stdout.write(`${lines.join('\n')}\nwrote ${join(args.out, 'kafka-clients.{json,md}')}\n`)
  // Clients may leave timers behind after closing.
  process.exit(0)
}

function rate(perSecond: number): string {
  return perSecond >= 1000 ? `${(perSecond / 1000).toFixed(0)} k` : perSecond.toFixed(0)
}

/** User + system CPU seconds of process `pid` so far (Linux /proc), or null when it cannot be read. */
function processCpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // After the command name (which may hold spaces): utime and stime are the 12th and 13th fields.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100 // USER_HZ
  } catch {
    return null
  }
}

/** --broker-pid, else the pid file of the broker scripts/servers/kafka.sh started, if it runs here. */
function brokerPid(flag: string | undefined): number | undefined {
  let text = flag
  if (text === undefined) {
    try {
      text = readFileSync(
        join(process.env.SLUICE_RUN_DIR ?? join(REPO, '.cache', 'run'), 'kafka', 'kafka.pid'),
        'utf8',
      )
    } catch {
      return undefined
    }
  }
  const pid = Number(text.trim())
  return Number.isInteger(pid) && processCpuSeconds(pid) !== null ? pid : undefined
}

await main()
