/**
 * Sluice's encoder of Kafka Produce requests (v3 to v7: one record batch, format v2, per
 * partition), installed in place of kafkajs's own. Everything else of kafkajs's producers stays:
 * the producer id and epoch from InitProducerId, the sequence numbers and their rollback after a
 * failed request, AddPartitionsToTxn, the retries and the response decoding, so idempotence,
 * transactions and fencing behave exactly as before (decision 0027, addendum).
 *
 * Why: issue 15's profile of the Kafka pipeline put kafkajs's produce encoding at the top of the
 * node's own work: a fresh 512-byte Encoder per record, varints written through one-off Buffers,
 * 64-bit arithmetic through Long objects, each layer copied into the next, and a byte-at-a-time
 * CRC32C. This encoder measures the request first and writes it into one Buffer, records and
 * batch headers in place, with a CRC32C that goes eight bytes per step (crc32c.ts). The bytes are
 * the ones kafkajs would send (kafka-produce-encoder.test.ts compares them), with one deliberate
 * difference: a batch's first and max timestamps are the numeric minimum and maximum of its
 * records' timestamps, where kafkajs sorts them as strings (the same unless the timestamps have
 * different numbers of digits).
 *
 * kafkajs looks its request definitions up by property (`definition.protocol({ version })`) at
 * every request, so replacing `protocol` on its Produce definition reaches every producer of the
 * process. kafkajs is pinned; a kafkajs whose internals moved fails loudly at install.
 */
import { createRequire } from 'node:module'
import { crc32c as crc32cOf } from './crc32c.ts'

const require = createRequire(import.meta.url)

/** A kafkajs message as it reaches the request encoder (see kafkajs's Message type). */
interface ProduceMessage {
  readonly key?: Buffer | string | null
  readonly value: Buffer | string | null
  readonly timestamp?: string | number
  readonly headers?: Record<string, Buffer | string | (Buffer | string)[] | undefined>
}

export interface ProducePartitionData {
  readonly partition: number
  /** The producer's sequence number of the batch's first record (eosManager); 0 when not idempotent. */
  readonly firstSequence?: number
  readonly messages: readonly ProduceMessage[]
}

export interface ProduceRequestData {
  readonly acks: number
  readonly timeout: number
  /** The kafkajs compression type: 0 none, 1 gzip (the codecs kafkajs ships). */
  readonly compression?: number
  readonly transactionalId?: string | null
  /** A kafkajs Long, a number or a decimal string; -1 when not idempotent. */
  readonly producerId?: { toString(): string } | number | string
  readonly producerEpoch?: number
  readonly topicData: readonly {
    readonly topic: string
    readonly partitions: readonly ProducePartitionData[]
  }[]
}

/** What kafkajs's connection needs of an encoded request body: its Encoder shape. */
interface EncodedBody {
  readonly buf: Buffer
  readonly offset: number
  readonly buffer: Buffer
  size(): number
}

const PRODUCE_API_KEY = 0
const MAGIC = 2
const TRANSACTIONAL_ATTRIBUTE = 0x10
const COMPRESSION_NONE = 0
const COMPRESSION_GZIP = 1
/**
 * Bytes of a record batch before its records: first offset (8), length (4), partition leader
 * epoch (4), magic (1), crc (4), attributes (2), last offset delta (4), first and max timestamp
 * (8 + 8), producer id (8), producer epoch (2), first sequence (4), record count (4).
 */
const BATCH_HEADER_BYTES = 61
/** Where the CRC-covered part of a batch begins (the attributes), from the batch's start. */
const CRC_START = 21

/** One message's measured pieces, reused from the measuring pass by the writing pass. */
interface MeasuredRecord {
  readonly timestampDelta: number
  readonly keyBytes: number
  readonly valueBytes: number
  readonly headers: readonly (readonly [string, Buffer | string])[]
  /** Bytes of the record after its length varint. */
  readonly bodyBytes: number
}

/** A partition's batch, measured: its records and how many bytes its records section takes. */
interface MeasuredBatch {
  readonly data: ProducePartitionData
  readonly records: MeasuredRecord[]
  readonly firstTimestamp: number
  readonly maxTimestamp: number
  /** Uncompressed bytes of the records section (without the record count). */
  readonly recordBytes: number
  /** The gzip'd records section, when compressed. */
  compressed?: Buffer
}

/** The request body (everything after kafkajs's request header) of one Produce request. */
export async function encodeProduceRequest(data: ProduceRequestData, now = Date.now()): Promise<Buffer> {
  const compression = data.compression ?? COMPRESSION_NONE
  if (compression !== COMPRESSION_NONE && compression !== COMPRESSION_GZIP) {
    throw new Error(`Sluice's produce encoder: compression type ${compression} is not supported`)
  }
  const transactionalId = data.transactionalId ?? null
  const producerId = BigInt(String(data.producerId ?? -1))
  const producerEpoch = data.producerEpoch ?? 0
  const attributes = compression | (transactionalId === null ? 0 : TRANSACTIONAL_ATTRIBUTE)

  const topics = data.topicData.map(({ topic, partitions }) => ({
    topic,
    batches: partitions.map((p) => measureBatch(p, now)),
  }))
  if (compression === COMPRESSION_GZIP) {
    const gzip = await gzipCodec()
    for (const { batches } of topics) {
      for (const batch of batches) {
        const records = Buffer.allocUnsafe(batch.recordBytes)
        writeRecords(records, 0, batch.records, batch.data.messages)
        batch.compressed = await gzip(records)
      }
    }
  }

  let size = stringBytes(transactionalId) + 2 + 4 + 4
  for (const { topic, batches } of topics) {
    size += stringBytes(topic) + 4
    for (const batch of batches) size += 4 + 4 + batchBytes(batch)
  }
  const buf = Buffer.allocUnsafe(size)
  let at = writeString(buf, 0, transactionalId)
  at = buf.writeInt16BE(data.acks, at)
  at = buf.writeInt32BE(data.timeout, at)
  at = buf.writeInt32BE(topics.length, at)
  for (const { topic, batches } of topics) {
    at = writeString(buf, at, topic)
    at = buf.writeInt32BE(batches.length, at)
    for (const batch of batches) {
      const bytes = batchBytes(batch)
      at = buf.writeInt32BE(batch.data.partition, at)
      at = buf.writeInt32BE(bytes, at)
      const start = at
      at = buf.writeBigInt64BE(0n, at) // first offset: the broker assigns
      at = buf.writeInt32BE(bytes - 12, at) // length of what follows this field
      at = buf.writeInt32BE(0, at) // partition leader epoch: the broker's
      at = buf.writeInt8(MAGIC, at)
      const crcAt = at
      at += 4
      at = buf.writeInt16BE(attributes, at)
      at = buf.writeInt32BE(batch.records.length - 1, at)
      at = buf.writeBigInt64BE(BigInt(batch.firstTimestamp), at)
      at = buf.writeBigInt64BE(BigInt(batch.maxTimestamp), at)
      at = buf.writeBigInt64BE(producerId, at)
      at = buf.writeInt16BE(producerEpoch, at)
      at = buf.writeInt32BE(batch.data.firstSequence ?? 0, at)
      at = buf.writeInt32BE(batch.records.length, at)
      if (batch.compressed === undefined) at = writeRecords(buf, at, batch.records, batch.data.messages)
      else at += batch.compressed.copy(buf, at)
      buf.writeUInt32BE(crc32cOf(buf, start + CRC_START, at), crcAt)
    }
  }
  if (at !== size) throw new Error(`Sluice's produce encoder: wrote ${at} bytes of ${size}`)
  return buf
}

function batchBytes(batch: MeasuredBatch): number {
  return BATCH_HEADER_BYTES + (batch.compressed?.length ?? batch.recordBytes)
}

function measureBatch(data: ProducePartitionData, now: number): MeasuredBatch {
  const { messages } = data
  let first = Number.POSITIVE_INFINITY
  let max = Number.NEGATIVE_INFINITY
  for (const message of messages) {
    if (message.timestamp == null) continue
    const t = Number(message.timestamp)
    if (t < first) first = t
    if (t > max) max = t
  }
  if (first === Number.POSITIVE_INFINITY) first = max = now
  const records: MeasuredRecord[] = new Array(messages.length)
  let recordBytes = 0
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!
    const timestampDelta = (message.timestamp == null ? now : Number(message.timestamp)) - first
    const keyBytes = byteLength(message.key)
    const valueBytes = byteLength(message.value)
    const headers = flattenHeaders(message.headers)
    let bodyBytes =
      1 + // attributes
      varLongBytes(timestampDelta) +
      varIntBytes(i) +
      varIntBytes(keyBytes) +
      Math.max(keyBytes, 0) +
      varIntBytes(valueBytes) +
      Math.max(valueBytes, 0) +
      varIntBytes(headers.length)
    for (const [name, value] of headers) {
      const nameBytes = Buffer.byteLength(name, 'utf8')
      const valueBytes = byteLength(value)
      bodyBytes += varIntBytes(nameBytes) + nameBytes + varIntBytes(valueBytes) + Math.max(valueBytes, 0)
    }
    records[i] = { timestampDelta, keyBytes, valueBytes, headers, bodyBytes }
    recordBytes += varIntBytes(bodyBytes) + bodyBytes
  }
  return { data, records, firstTimestamp: first, maxTimestamp: max, recordBytes }
}

/** Writes the records of a batch at `at`; returns the offset after them. */
function writeRecords(
  buf: Buffer,
  at: number,
  records: readonly MeasuredRecord[],
  messages: readonly ProduceMessage[],
): number {
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!
    const message = messages[i]!
    at = writeVarInt(buf, at, record.bodyBytes)
    buf[at++] = 0 // record attributes: none defined
    at = writeVarLong(buf, at, record.timestampDelta)
    at = writeVarInt(buf, at, i)
    at = writeVarBytes(buf, at, message.key, record.keyBytes)
    at = writeVarBytes(buf, at, message.value, record.valueBytes)
    at = writeVarInt(buf, at, record.headers.length)
    for (const [name, value] of record.headers) {
      at = writeVarBytes(buf, at, name, Buffer.byteLength(name, 'utf8'))
      at = writeVarBytes(buf, at, value, byteLength(value))
    }
  }
  return at
}

/** kafkajs's header form: an array value is several headers of one name, in order. */
function flattenHeaders(headers: ProduceMessage['headers']): (readonly [string, Buffer | string])[] {
  if (headers === undefined) return []
  const out: (readonly [string, Buffer | string])[] = []
  for (const name of Object.keys(headers)) {
    const value = headers[name]
    if (Array.isArray(value)) for (const v of value) out.push([name, v])
    else if (value !== undefined) out.push([name, value])
  }
  return out
}

/** Bytes of a key or value as written; -1 for null (Kafka's null bytes). */
function byteLength(value: Buffer | string | null | undefined): number {
  if (value == null) return -1
  return typeof value === 'string' ? Buffer.byteLength(value, 'utf8') : value.length
}

function writeVarBytes(
  buf: Buffer,
  at: number,
  value: Buffer | string | null | undefined,
  bytes: number,
): number {
  at = writeVarInt(buf, at, bytes)
  if (value == null) return at
  if (typeof value === 'string') return at + buf.write(value, at, bytes, 'utf8')
  return at + value.copy(buf, at)
}

/** An INT16-length string, or -1 for null. */
function stringBytes(value: string | null): number {
  return 2 + (value === null ? 0 : Buffer.byteLength(value, 'utf8'))
}

function writeString(buf: Buffer, at: number, value: string | null): number {
  if (value === null) return buf.writeInt16BE(-1, at)
  const bytes = Buffer.byteLength(value, 'utf8')
  at = buf.writeInt16BE(bytes, at)
  return at + buf.write(value, at, bytes, 'utf8')
}

/** Bytes of a zigzag varint of a 32-bit signed value. */
function varIntBytes(value: number): number {
  let v = ((value << 1) ^ (value >> 31)) >>> 0
  let bytes = 1
  while (v >= 0x80) {
    v >>>= 7
    bytes++
  }
  return bytes
}

function writeVarInt(buf: Buffer, at: number, value: number): number {
  let v = ((value << 1) ^ (value >> 31)) >>> 0
  while (v >= 0x80) {
    buf[at++] = (v & 0x7f) | 0x80
    v >>>= 7
  }
  buf[at++] = v
  return at
}

/** Zigzag of a safe integer, as a non-negative number (exact below 2^52). */
function zigzag64(value: number): number {
  return value >= 0 ? value * 2 : -value * 2 - 1
}

function varLongBytes(value: number): number {
  let v = zigzag64(value)
  let bytes = 1
  while (v >= 0x80) {
    v = Math.floor(v / 128)
    bytes++
  }
  return bytes
}

function writeVarLong(buf: Buffer, at: number, value: number): number {
  let v = zigzag64(value)
  while (v >= 0x80) {
    buf[at++] = (v % 128) | 0x80
    v = Math.floor(v / 128)
  }
  buf[at++] = v
  return at
}

// Loaded lazily so a process that never compresses never loads zlib through kafkajs.
let gzipCompress: ((records: Buffer) => Promise<Buffer>) | undefined
async function gzipCodec(): Promise<(records: Buffer) => Promise<Buffer>> {
  if (gzipCompress === undefined) {
    // kafkajs's own gzip codec, so compressed batches are the ones kafkajs would send.
    const codec = require('kafkajs/src/protocol/message/compression/gzip.js') as {
      compress(encoder: { buffer: Buffer }): Promise<Buffer>
    }
    gzipCompress = (records) => codec.compress({ buffer: records })
  }
  return gzipCompress
}

// --- Installation into kafkajs -------------------------------------------------------------

interface KafkajsEncoder {
  buf: Buffer
  offset: number
}

interface ProduceDefinition {
  versions: string[]
  protocol: (options: { version: number }) => (data: ProduceRequestData) => {
    request: {
      apiKey: number
      apiVersion: number
      apiName: string
      expectResponse(): boolean
      encode(): Promise<unknown>
    }
    response: unknown
  }
}

const PRODUCE_DEFINITION_PATH = 'kafkajs/src/protocol/requests/produce/index.js'
/** The Produce versions this encoder writes: those with record batches (v3+) that kafkajs knows. */
const OWN_VERSIONS = new Set([3, 4, 5, 6, 7])

let kafkajsProtocol: ProduceDefinition['protocol'] | undefined

/**
 * Makes every kafkajs producer of this process encode its Produce requests with this module
 * (`true`, what KafkaLog does at connect) or with kafkajs's own encoder again (`false`: the
 * benchmark's before/after comparison). Idempotent.
 */
export function useSluiceProduceEncoder(enabled: boolean): void {
  const definition = require(PRODUCE_DEFINITION_PATH) as ProduceDefinition
  const Encoder = require('kafkajs/src/protocol/encoder.js') as new (size?: number) => KafkajsEncoder
  if (typeof definition?.protocol !== 'function' || typeof Encoder !== 'function') {
    throw new Error('kafkajs changed: no Produce request definition to install the produce encoder in')
  }
  if (kafkajsProtocol === undefined) kafkajsProtocol = definition.protocol
  const original = kafkajsProtocol
  if (!enabled) {
    definition.protocol = original
    return
  }
  definition.protocol = ({ version }) => {
    const kafkajs = original({ version })
    if (!OWN_VERSIONS.has(Number(version))) return kafkajs
    return (data) => {
      // kafkajs's own request object for its apiName, response decoder and expectResponse.
      const { request, response } = kafkajs(data)
      return {
        request: {
          ...request,
          apiKey: PRODUCE_API_KEY,
          encode: async () => {
            const body = await encodeProduceRequest(data)
            // kafkajs's request framing copies `buf` up to `offset` (its Encoder's `buffer`).
            const encoder = new Encoder(0)
            encoder.buf = body
            encoder.offset = body.length
            return encoder satisfies KafkajsEncoder as unknown as EncodedBody
          },
        },
        response,
      }
    }
  }
}

/** Whether kafkajs's producers currently use this module's encoder. */
export function sluiceProduceEncoderInstalled(): boolean {
  const definition = require(PRODUCE_DEFINITION_PATH) as ProduceDefinition
  return kafkajsProtocol !== undefined && definition.protocol !== kafkajsProtocol
}
