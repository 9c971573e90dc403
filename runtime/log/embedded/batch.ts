import type { LogRecord } from '../index.ts'
import { crc32 } from './crc32.ts'
import { type FrameInput, readI64, readU64, writeI64, writeU64 } from './frame-fields.ts'
import { unzigzag, VarintReader, varintSize, writeVarint, zigzag } from './varint.ts'

/**
 * The record batch frame (magic 2; docs/decisions/0018-embedded-record-batches.md): the records
 * of one append chunk in one frame with one length and one CRC, after Kafka's record batch v2.
 * Fixed-width big-endian fields in the frame header (the same first 17 bytes as a magic 1 frame,
 * so scanners read length, CRC, magic and first offset alike), varints per record:
 *
 *   byte  size  field
 *   0     4     length          u32, bytes after this field (the frame is 4 + length bytes)
 *   4     4     crc             u32, CRC-32 of bytes [8, 4 + length), checked once per read
 *   8     1     magic           u8, 2
 *   9     8     baseOffset      u64 (< 2^53), offset of the first record
 *   17    8     baseTimestamp   i64, ms since the epoch, the first record's timestamp
 *   25    4     recordCount     u32, ≥ 1; the records have offsets baseOffset + 0 .. count - 1
 *   29    v     headerSetCount  varint; then each set: varint pairCount, per pair varint
 *                               nameLength, name UTF-8, varint valueLength, value UTF-8
 *   ..          records         per record: varint offsetDelta (= its index in the batch),
 *                               zigzag varint timestampDelta, varint keyLength + 1 (0: null key),
 *                               key UTF-8, varint headerSet (0: no headers, i: set i - 1),
 *                               varint valueLength, value bytes
 *
 * Header sets are stored once per batch: every output of a node carries the artifact hash
 * header, about half of its bytes when stored per record. Records that share a header object
 * (the runner passes one for all outputs without headers of their own) or equal headers
 * reference one set.
 */
export const BATCH_MAGIC = 2
/**
 * The transactional record batch (magic 3): a magic 2 batch written by an exactly-once
 * transaction, with the transaction's identity after the record count (Kafka's RecordBatch marks
 * these with its isTransactional attribute and producerId/producerEpoch):
 *
 *   29    8     producerId      u64 (< 2^53), assigned per transactional id (transactions.ts)
 *   37    4     producerEpoch   u32, bumped each time the id is claimed
 *   41    v     headerSetCount  and the rest as in magic 2
 *
 * A separate magic rather than an attribute bit in magic 2, so plain batches stay byte for byte
 * what they were and a version that does not know transactions fails on these frames as
 * unknown instead of delivering records of a transaction that may have aborted. Recovery and
 * read-only readers tell from these fields which records belong to which transaction, so no
 * intent has to be written before a transaction's records (docs/decisions/0016-exactly-once.md).
 */
export const TXN_BATCH_MAGIC = 3
/** Bytes before the header sets. */
export const BATCH_HEADER_BYTES = 29
/** Bytes before the header sets of a transactional batch. */
export const TXN_BATCH_HEADER_BYTES = BATCH_HEADER_BYTES + 12

/** Who wrote a transactional batch. */
export interface BatchProducer {
  readonly producerId: number
  readonly epoch: number
}

/** Whether `magic` is a record batch's (plain or transactional). */
export function isBatchMagic(magic: number | undefined): boolean {
  return magic === BATCH_MAGIC || magic === TXN_BATCH_MAGIC
}

/** Bytes before the header sets of a batch with this magic. */
export function batchHeaderBytes(magic: number | undefined): number {
  return magic === TXN_BATCH_MAGIC ? TXN_BATCH_HEADER_BYTES : BATCH_HEADER_BYTES
}

/** The producer of the batch frame at `pos` (its first 41 bytes there), or null for a plain one. */
export function batchProducer(buf: Buffer, pos: number): BatchProducer | null {
  if (buf[pos + 8] !== TXN_BATCH_MAGIC) return null
  return { producerId: readU64(buf, pos + 29), epoch: buf.readUInt32BE(pos + 37) }
}
/** The smallest record inside a batch: five one-byte varints (null key, no headers, empty value). */
export const MIN_BATCH_RECORD_BYTES = 5
/** The smallest batch frame: one minimal record, no header sets. */
export const MIN_BATCH_BYTES = BATCH_HEADER_BYTES + 1 + MIN_BATCH_RECORD_BYTES
/**
 * Appends close a batch before it passes this size (a record larger on its own gets a batch of
 * its own): large enough that the per-batch header and header sets cost nothing per record, small
 * enough that a read starting inside a batch walks little before its first record and that
 * damage takes few records with it.
 */
export const MAX_BATCH_BYTES = 128 * 1024
/**
 * Timestamp deltas are kept within ±2^51 so their zigzag form is a safe integer; a record further
 * from the batch's first timestamp starts a new batch.
 */
const MAX_TIMESTAMP_DELTA = 2 ** 51
/** How many of the batch's newest header sets a record's headers are compared with by value. */
const EQUAL_SETS_COMPARED = 4

interface HeaderSet {
  readonly names: string[]
  readonly values: string[]
  /** Encoded bytes: the pair count and every pair. */
  readonly bytes: number
}

/**
 * Collects the records of one batch frame, measuring each before it joins (so an append can stop
 * a batch at a size or segment limit), then encodes them. Not reused: one builder per batch.
 */
export class BatchBuilder {
  readonly records: FrameInput[] = []
  private readonly keyBytes: number[] = []
  private readonly setRefs: number[] = []
  private readonly sets: HeaderSet[] = []
  private readonly setOf = new Map<object, number>()
  private baseTimestamp = 0
  /** Bytes of the header sets and the records, without the frame header and set count. */
  private body = 0
  // What measure() found for the record it was last given, used by add().
  private pendingKeyBytes = 0
  private pendingRef = 0
  private pendingSet: HeaderSet | null = null
  private pendingBytes = 0
  private readonly headerBytes: number

  /** `producer`: the transaction writing this batch (a magic 3 frame), or null for a plain batch. */
  constructor(readonly producer: BatchProducer | null = null) {
    this.headerBytes = producer === null ? BATCH_HEADER_BYTES : TXN_BATCH_HEADER_BYTES
  }

  get count(): number {
    return this.records.length
  }

  /** Encoded size of the batch as it stands. */
  get size(): number {
    return this.headerBytes + varintSize(this.sets.length) + this.body
  }

  /**
   * The batch's size were `record` added, or Infinity when it cannot join (its timestamp is too
   * far from the batch's first). add() then adds exactly this record.
   */
  measure(record: FrameInput): number {
    const delta = this.records.length === 0 ? 0 : record.timestamp - this.baseTimestamp
    if (delta > MAX_TIMESTAMP_DELTA || delta < -MAX_TIMESTAMP_DELTA) return Number.POSITIVE_INFINITY
    const keyBytes = record.key === null ? 0 : utf8Length(record.key)
    this.pendingKeyBytes = keyBytes
    let setCount = this.sets.length
    let setBytes = 0
    const ref = this.refOf(record.headers)
    if (ref > 0) {
      this.pendingRef = ref
      this.pendingSet = null
    } else if (ref === 0) {
      this.pendingRef = 0
      this.pendingSet = null
    } else {
      const set = headerSet(record.headers)
      setBytes = set.bytes
      setCount++
      this.pendingSet = set
      this.pendingRef = setCount
    }
    const length = record.value.length
    const bytes =
      varintSize(this.records.length) +
      varintSize(zigzag(delta)) +
      varintSize(record.key === null ? 0 : keyBytes + 1) +
      keyBytes +
      varintSize(this.pendingRef) +
      varintSize(length) +
      length
    this.pendingBytes = setBytes + bytes
    return this.headerBytes + varintSize(setCount) + this.body + this.pendingBytes
  }

  /** Adds the record measure() was last called with. */
  add(record: FrameInput): void {
    if (this.records.length === 0) this.baseTimestamp = record.timestamp
    if (this.pendingSet !== null) {
      this.sets.push(this.pendingSet)
      this.setOf.set(record.headers, this.pendingRef)
    }
    this.records.push(record)
    this.keyBytes.push(this.pendingKeyBytes)
    this.setRefs.push(this.pendingRef)
    this.body += this.pendingBytes
  }

  /**
   * The reference for `headers`: 0 for none, i > 0 for set i - 1 already in the batch (same
   * object, or equal to one of the newest sets), -1 when it needs a set of its own.
   */
  private refOf(headers: Readonly<Record<string, string>>): number {
    const known = this.setOf.get(headers)
    if (known !== undefined) return known
    let n = 0
    for (const _ in headers) n++
    if (n === 0) return 0
    for (let s = this.sets.length - 1; s >= 0 && s >= this.sets.length - EQUAL_SETS_COMPARED; s--) {
      const set = this.sets[s]!
      if (set.names.length === n && sameHeaders(set, headers)) {
        // Remember the object too: the next record with it is found by identity.
        this.setOf.set(headers, s + 1)
        return s + 1
      }
    }
    return -1
  }

  /**
   * Writes the batch frame at `pos` of `buf` (at least `size` bytes free) with offsets from
   * `baseOffset`; returns the position after it.
   */
  encode(buf: Buffer, pos: number, baseOffset: number): number {
    const start = pos
    const size = this.size
    buf.writeUInt32BE(size - 4, pos)
    pos += 8 // the CRC is written once the body is
    buf[pos++] = this.producer === null ? BATCH_MAGIC : TXN_BATCH_MAGIC
    pos = writeU64(buf, baseOffset, pos)
    pos = writeI64(buf, this.baseTimestamp, pos)
    buf.writeUInt32BE(this.records.length, pos)
    pos += 4
    if (this.producer !== null) {
      pos = writeU64(buf, this.producer.producerId, pos)
      buf.writeUInt32BE(this.producer.epoch, pos)
      pos += 4
    }
    pos = writeVarint(buf, this.sets.length, pos)
    for (const set of this.sets) {
      pos = writeVarint(buf, set.names.length, pos)
      for (let i = 0; i < set.names.length; i++) {
        pos = writeString(buf, set.names[i]!, pos)
        pos = writeString(buf, set.values[i]!, pos)
      }
    }
    for (let i = 0; i < this.records.length; i++) {
      const record = this.records[i]!
      pos = writeVarint(buf, i, pos)
      pos = writeVarint(buf, zigzag(record.timestamp - this.baseTimestamp), pos)
      if (record.key === null) {
        buf[pos++] = 0
      } else {
        const key = record.key
        const n = this.keyBytes[i]!
        pos = writeVarint(buf, n + 1, pos)
        // As many bytes as characters: ASCII, and a short key is quicker stored by a loop than
        // through Buffer.write's native call.
        if (n === key.length && n <= SHORT_STRING) for (let c = 0; c < n; c++) buf[pos++] = key.charCodeAt(c)
        else pos += buf.write(key, pos, n, 'utf8')
      }
      pos = writeVarint(buf, this.setRefs[i]!, pos)
      pos = writeVarint(buf, record.value.length, pos)
      buf.set(record.value, pos)
      pos += record.value.length
    }
    if (pos - start !== size) throw new Error(`batch size mismatch: wrote ${pos - start}, expected ${size}`)
    buf.writeUInt32BE(crc32(buf.subarray(start + 8, pos)), start + 4)
    return pos
  }
}

/** Encoded size of a batch holding `record` alone: what the log's record size limit applies to. */
export function soloBatchSize(record: FrameInput): number {
  let size = MIN_BATCH_BYTES + record.value.length
  if (record.value.length >= 0x80) size += varintSize(record.value.length) - 1
  if (record.key !== null) {
    const n = Buffer.byteLength(record.key, 'utf8')
    size += n + varintSize(n + 1) - 1
  }
  let pairs = 0
  let setBytes = 0
  for (const name in record.headers) {
    const nameBytes = Buffer.byteLength(name, 'utf8')
    const valueBytes = Buffer.byteLength(record.headers[name]!, 'utf8')
    setBytes += varintSize(nameBytes) + nameBytes + varintSize(valueBytes) + valueBytes
    pairs++
  }
  if (pairs > 0) size += varintSize(pairs) + setBytes // set count and reference stay one byte
  return size
}

/**
 * The records of the batch frame (`size` bytes at `pos`, CRC already checked) with offsets ≥
 * `from`, at most `max` of them, appended to `out`; returns how many. Values are views into `buf`
 * (no copy); records sharing a header set share its object. Throws an Error with a reason when
 * the fields do not add up to the frame (damage the CRC could not see, or a bug).
 */
export function decodeBatch(
  buf: Buffer,
  pos: number,
  size: number,
  topic: string,
  partition: number,
  from: number,
  max: number,
  out: LogRecord[],
): number {
  const end = pos + size
  const baseOffset = readU64(buf, pos + 9)
  const baseTimestamp = readI64(buf, pos + 17)
  const count = buf.readUInt32BE(pos + 25)
  const r = new VarintReader(buf, pos + batchHeaderBytes(buf[pos + 8]), end)
  const setCount = r.varint('header set count')
  const sets: Readonly<Record<string, string>>[] = []
  for (let s = 0; s < setCount; s++) sets.push(readHeaderSet(r))
  const none: Readonly<Record<string, string>> = {}
  let pushed = 0
  for (let i = 0; i < count; i++) {
    const delta = r.varint('offset delta')
    if (delta !== i) throw new Error(`record ${i} of the batch has offset delta ${delta}`)
    const timestamp = baseTimestamp + unzigzag(r.varint('timestamp delta'))
    const keyField = r.varint('key length')
    let keyAt = 0
    if (keyField > 0) keyAt = r.take(keyField - 1, 'key')
    const ref = r.varint('header set')
    if (ref > setCount) throw new Error(`record ${i} of the batch refers to header set ${ref} of ${setCount}`)
    const length = r.varint('value length')
    const valueAt = r.take(length, 'value')
    const offset = baseOffset + i
    if (offset < from || pushed >= max) continue
    out.push({
      topic,
      partition,
      offset,
      key: keyField === 0 ? null : buf.toString('utf8', keyAt, keyAt + keyField - 1),
      // A view into the read buffer, not a copy (see frame.ts decodeFrame for why that is safe).
      value: buf.subarray(valueAt, valueAt + length),
      headers: ref === 0 ? none : sets[ref - 1]!,
      timestamp,
    })
    pushed++
    // The rest of the batch was checked by its CRC; what is not handed out need not be walked.
    if (pushed >= max) return pushed
  }
  if (r.pos !== end) throw new Error(`the batch's ${count} records end ${end - r.pos} bytes before its frame`)
  return pushed
}

function readHeaderSet(r: VarintReader): Readonly<Record<string, string>> {
  const pairs = r.varint('header count')
  const headers: Record<string, string> = {}
  for (let i = 0; i < pairs; i++) {
    const nameLength = r.varint('header name length')
    const nameAt = r.take(nameLength, 'header name')
    const valueLength = r.varint('header value length')
    const valueAt = r.take(valueLength, 'header value')
    const name = (r.buf as Buffer).toString('utf8', nameAt, nameAt + nameLength)
    const value = (r.buf as Buffer).toString('utf8', valueAt, valueAt + valueLength)
    // "__proto__" must become a header, not the prototype (as in frame.ts decodeFrame).
    if (name === '__proto__')
      Object.defineProperty(headers, name, { value, enumerable: true, writable: true, configurable: true })
    else headers[name] = value
  }
  return headers
}

/** Keys up to this many characters are measured and written by a loop when they are ASCII. */
const SHORT_STRING = 32

/** UTF-8 length of `s`; short ASCII strings (keys are usually ids) without a native call. */
function utf8Length(s: string): number {
  if (s.length > SHORT_STRING) return Buffer.byteLength(s, 'utf8')
  for (let c = 0; c < s.length; c++) if (s.charCodeAt(c) >= 0x80) return Buffer.byteLength(s, 'utf8')
  return s.length
}

function headerSet(headers: Readonly<Record<string, string>>): HeaderSet {
  const names: string[] = []
  const values: string[] = []
  let bytes = 0
  for (const name in headers) {
    const value = headers[name]!
    const nameBytes = Buffer.byteLength(name, 'utf8')
    const valueBytes = Buffer.byteLength(value, 'utf8')
    bytes += varintSize(nameBytes) + nameBytes + varintSize(valueBytes) + valueBytes
    names.push(name)
    values.push(value)
  }
  return { names, values, bytes: bytes + varintSize(names.length) }
}

function sameHeaders(set: HeaderSet, headers: Readonly<Record<string, string>>): boolean {
  for (let i = 0; i < set.names.length; i++) {
    const name = set.names[i]!
    if (!Object.hasOwn(headers, name) || headers[name] !== set.values[i]) return false
  }
  return true
}

function writeString(buf: Buffer, s: string, pos: number): number {
  const n = Buffer.byteLength(s, 'utf8')
  pos = writeVarint(buf, n, pos)
  return pos + buf.write(s, pos, n, 'utf8')
}
