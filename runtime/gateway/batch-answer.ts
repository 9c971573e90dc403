/**
 * The answer to a batch (a JSON array, NDJSON, a WebSocket message, a gRPC call): how many events
 * were accepted and rejected and one result per event, `{status: 200, partition, offset}` or
 * `{status, error_code, message, …}`.
 *
 * HTTP and WebSocket answers are JSON text. Building one object per event only to hand them to
 * JSON.stringify cost about 0.2 µs per event; writing the text by string concatenation still made
 * about 200 bytes of garbage per event (the number strings and the concatenations), a fifth of a
 * WebSocket batch's, whose collection pauses were its ack's tail (issue 16). So `bytes()` writes
 * the text's bytes straight from the positions (two typed arrays) into one reused buffer. gRPC,
 * which answers with objects, reads `results`, built on demand.
 */
import { type GatewayError, statusOf } from './errors.ts'

/** Where an accepted event went. */
export type Position = { readonly partition: number; readonly offset: number }

export class BatchAnswer {
  constructor(
    readonly accepted: number,
    readonly rejected: number,
    /** Event i went to (partitions[i], offsets[i]), unless `errors` has i. */
    private readonly positions: { readonly partitions: Int32Array; readonly offsets: Float64Array },
    /** Event index → why it was rejected. */
    private readonly errors: ReadonlyMap<number, GatewayError>,
  ) {}

  /** From one entry per event: its position or its error. */
  static fromEntries(entries: readonly (Position | GatewayError)[]): BatchAnswer {
    const partitions = new Int32Array(entries.length)
    const offsets = new Float64Array(entries.length)
    const errors = new Map<number, GatewayError>()
    entries.forEach((entry, i) => {
      if (isError(entry)) errors.set(i, entry)
      else {
        partitions[i] = entry.partition
        offsets[i] = entry.offset
      }
    })
    return new BatchAnswer(entries.length - errors.size, errors.size, { partitions, offsets }, errors)
  }

  get count(): number {
    return this.positions.partitions.length
  }

  /** Per event, as answered. */
  get results(): unknown[] {
    const { partitions, offsets } = this.positions
    return Array.from({ length: this.count }, (_, i) => {
      const error = this.errors.get(i)
      return error !== undefined
        ? resultOfError(error)
        : { status: 200, partition: partitions[i]!, offset: offsets[i]! }
    })
  }

  /**
   * The answer's JSON text as UTF-8, `{accepted, rejected, results}`; with `seq` (a WebSocket
   * ack), `{seq, accepted, …}`: the text JSON.stringify writes for `toJSON()`. A view of a buffer
   * the next call overwrites: hand it to the socket (which copies it) at once.
   */
  bytes(seq?: number): Buffer {
    const { partitions, offsets } = this.positions
    const count = partitions.length
    const errorTexts = new Map<number, string>()
    let errorBytes = 0
    for (const [i, error] of this.errors) {
      const text = JSON.stringify(resultOfError(error))
      errorTexts.set(i, text)
      errorBytes += Buffer.byteLength(text)
    }
    const buf = scratch(HEAD_BYTES + count * (POSITION_BYTES + 1) + errorBytes)
    let pos = 0
    if (seq !== undefined) {
      pos = writeAscii(buf, pos, '{"seq":')
      pos = writeInteger(buf, pos, seq)
      pos = writeAscii(buf, pos, ',"accepted":')
    } else pos = writeAscii(buf, pos, '{"accepted":')
    pos = writeInteger(buf, pos, this.accepted)
    pos = writeAscii(buf, pos, ',"rejected":')
    pos = writeInteger(buf, pos, this.rejected)
    pos = writeAscii(buf, pos, ',"results":[')
    for (let i = 0; i < count; i++) {
      if (i > 0) buf[pos++] = COMMA
      const error = errorTexts.get(i)
      if (error !== undefined) pos += buf.write(error, pos)
      else {
        // Positions are integers: written as JSON.stringify would.
        pos = writeAscii(buf, pos, '{"status":200,"partition":')
        pos = writeInteger(buf, pos, partitions[i]!)
        pos = writeAscii(buf, pos, ',"offset":')
        pos = writeInteger(buf, pos, offsets[i]!)
        buf[pos++] = CLOSE_BRACE
      }
    }
    pos = writeAscii(buf, pos, ']}')
    return buf.subarray(0, pos)
  }

  /** The answer's JSON text (bytes() as a string). */
  json(seq?: number): string {
    return this.bytes(seq).toString()
  }

  /** The object JSON.stringify would write for this answer (what `json()` writes). */
  toJSON(): unknown {
    return { accepted: this.accepted, rejected: this.rejected, results: this.results }
  }
}

const COMMA = 0x2c
const CLOSE_BRACE = 0x7d
const ZERO = 0x30
/** `{"seq":…,"accepted":…,"rejected":…,"results":[]}` with three integers of up to 17 characters. */
const HEAD_BYTES = 48 + 3 * 17
/** `{"status":200,"partition":…,"offset":…}` with two integers of up to 17 characters. */
const POSITION_BYTES = 37 + 2 * 17

/** The reused buffer grows up to this; a larger answer (a batch of many thousand events) gets its own. */
const MAX_SCRATCH_BYTES = 1 << 20
let scratchBuffer = Buffer.allocUnsafe(64 * 1024)

/** A buffer of at least `bytes`: the reused one, grown as needed up to MAX_SCRATCH_BYTES. */
function scratch(bytes: number): Buffer {
  if (bytes > MAX_SCRATCH_BYTES) return Buffer.allocUnsafe(bytes)
  if (scratchBuffer.length < bytes)
    scratchBuffer = Buffer.allocUnsafe(Math.min(MAX_SCRATCH_BYTES, Math.max(bytes, 2 * scratchBuffer.length)))
  return scratchBuffer
}

function writeAscii(buf: Buffer, pos: number, text: string): number {
  for (let i = 0; i < text.length; i++) buf[pos++] = text.charCodeAt(i)
  return pos
}

/** A safe integer in decimal, as JSON.stringify writes it (no allocation). */
function writeInteger(buf: Buffer, pos: number, value: number): number {
  let n = value
  if (n < 0) {
    buf[pos++] = 0x2d
    n = -n
  }
  let digits = 1
  for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) digits++
  const end = pos + digits
  for (let i = end - 1; i >= pos; i--) {
    buf[i] = ZERO + (n % 10)
    n = Math.floor(n / 10)
  }
  return end
}

function isError(entry: Position | GatewayError): entry is GatewayError {
  return (entry as GatewayError).error_code !== undefined
}

function resultOfError(error: GatewayError): unknown {
  return { status: statusOf(error), ...error }
}
