/**
 * A checksum of a variant's outputs (value, key, timestamp of every emitted event, in order), so a
 * benchmark can show that the variants it compares computed the same thing on the run it measured,
 * not only on a check prefix. It walks values field by field and allocates nothing per event: it
 * runs between timed batches, and garbage it left behind would be collected inside the next one.
 *
 * Two FNV-1a lanes with different offsets make a 64-bit digest. It detects divergence; it is not
 * meant to resist anyone constructing collisions.
 */

/** The outputs of one processed batch: the first `length` entries of parallel arrays. */
export interface OutputView {
  readonly values: ArrayLike<unknown>
  readonly keys: ArrayLike<string | null>
  readonly timestamps: ArrayLike<number>
  readonly length: number
}

export interface ChecksumResult {
  /** Events folded into the checksum. */
  readonly events: number
  /** 16 hex digits. */
  readonly digest: string
}

const FNV_PRIME = 0x01000193
// Tags keep values of different types apart ("1" vs 1, null vs "null", [] vs {}).
const TAG_NULL = 1
const TAG_UNDEFINED = 2
const TAG_FALSE = 3
const TAG_TRUE = 4
const TAG_NUMBER = 5
const TAG_STRING = 6
const TAG_BIGINT = 7
const TAG_ARRAY = 8
const TAG_OBJECT = 9
const TAG_END = 10
const TAG_EVENT = 11
const TAG_OTHER = 12

const numberBits = new Float64Array(1)
const numberWords = new Uint32Array(numberBits.buffer)

export class OutputChecksum {
  private a = 0x811c9dc5
  private b = 0x050c5d1f
  private count = 0

  /** Folds in the first `batch.length` outputs of a batch. */
  addBatch(batch: OutputView): void {
    // Keys as stored: a variant that leaves `undefined` where the others write null differs.
    for (let i = 0; i < batch.length; i++)
      this.addEvent(batch.values[i], batch.keys[i]!, batch.timestamps[i]!)
  }

  addEvent(value: unknown, key: string | null, timestamp: number): void {
    this.word(TAG_EVENT)
    this.value(value)
    this.value(key)
    this.number(timestamp)
    this.count++
  }

  result(): ChecksumResult {
    const hex = (word: number) => (word >>> 0).toString(16).padStart(8, '0')
    return { events: this.count, digest: hex(this.a) + hex(this.b) }
  }

  private word(word: number): void {
    // Byte-wise FNV-1a over the four bytes of a 32-bit word, in both lanes.
    let a = this.a
    let b = this.b
    for (let shift = 0; shift < 32; shift += 8) {
      const byte = (word >>> shift) & 0xff
      a = Math.imul(a ^ byte, FNV_PRIME)
      b = Math.imul(b ^ byte, FNV_PRIME)
    }
    this.a = a
    this.b = b
  }

  private number(value: number): void {
    this.word(TAG_NUMBER)
    numberBits[0] = value
    this.word(numberWords[0]!)
    this.word(numberWords[1]!)
  }

  private string(value: string): void {
    this.word(TAG_STRING)
    this.word(value.length)
    for (let i = 0; i < value.length; i++) this.word(value.charCodeAt(i))
  }

  private value(value: unknown): void {
    if (value === null) this.word(TAG_NULL)
    else if (value === undefined) this.word(TAG_UNDEFINED)
    else if (value === true) this.word(TAG_TRUE)
    else if (value === false) this.word(TAG_FALSE)
    else if (typeof value === 'number') this.number(value)
    else if (typeof value === 'string') this.string(value)
    else if (typeof value === 'bigint') {
      this.word(TAG_BIGINT)
      this.string(value.toString(16))
    } else if (Array.isArray(value)) {
      this.word(TAG_ARRAY)
      for (let i = 0; i < value.length; i++) this.value(value[i])
      this.word(TAG_END)
    } else if (typeof value === 'object') {
      // Field order counts: it is the order the encoders write.
      this.word(TAG_OBJECT)
      const record = value as Record<string, unknown>
      for (const field in record) {
        if (!Object.hasOwn(record, field)) continue
        this.string(field)
        this.value(record[field])
      }
      this.word(TAG_END)
    } else {
      this.word(TAG_OTHER)
      this.string(String(value))
    }
  }
}
