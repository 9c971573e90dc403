import { SluiceError } from '../errors.ts'
import { crc32 } from '../log/embedded/crc32.ts'
import {
  DELETED,
  type EntryLayer,
  EntryWriter,
  mergeLayers,
  OffsetsBuilder,
  SnapshotEntries,
} from './snapshot-entries.ts'

/**
 * The file format of a snapshot (a whole state, `base`) or of one epoch's changes (`delta`):
 *
 *   magic "SLST" | u8 version (1) | u8 kind (1 base, 2 delta) | u64 epoch | u32 count
 *   count × ( u32 keyLength | key UTF-8 | i32 valueLength (-1: deleted) | value )
 *   u32 CRC-32 of everything before it
 *
 * Integers are big-endian. The CRC covers the whole file, so a torn or damaged file is refused
 * (STATE_CORRUPT naming it), never half read. Entries are read in place (snapshot-entries.ts):
 * decoding a file indexes where each key and value lie, and a full snapshot's entries, encoded
 * into one buffer by KeyedState, are copied into the file as one block.
 */
const MAGIC = Buffer.from('SLST')
const VERSION = 1
const HEADER_BYTES = 4 + 1 + 1 + 8 + 4
/** Bytes in front of a file's entries (the header) and behind them (the CRC). */
export const SNAPSHOT_HEADER_BYTES = HEADER_BYTES
export const SNAPSHOT_TRAILER_BYTES = 4
const TWO_32 = 2 ** 32

export type SnapshotKind = 'base' | 'delta'

export interface SnapshotFile {
  readonly kind: SnapshotKind
  readonly epoch: number
  /** The file's entries in place (a deletion, deltas only, has no value), in file order. */
  readonly layer: EntryLayer
}

/**
 * Encodes a file. Puts already in this encoding (KeyedState.takeChanges, merged with a
 * TimerQueue's) are copied: one plain layer as one block, several entry by entry as their bytes
 * (mergeLayers); others are written entry by entry into one buffer.
 */
export function encodeSnapshotFile(
  kind: SnapshotKind,
  epoch: number,
  puts: Iterable<[string, Buffer]>,
  deletes: Iterable<string> = [],
): Buffer {
  return (
    finishInPlace(kind, epoch, puts, deletes) ??
    finishFile(writeEntries(HEADER_BYTES, puts, deletes), kind, epoch)
  )
}

/**
 * The file as the puts' own buffer, when they are one plain layer encoded with room for the
 * header in front and for the deletions and the CRC behind (KeyedState.takeChanges leaves it):
 * the header, deletions and CRC are written around the entries in place, so a checkpoint's
 * changes are not copied (issue 12). Bytes outside the layer's entries are the only ones written,
 * so the puts read the same afterwards; the returned file is a view of their buffer (staging the
 * same changes twice at once would share it). null: no such room, encode a copy.
 */
function finishInPlace(
  kind: SnapshotKind,
  epoch: number,
  puts: Iterable<[string, Buffer]>,
  deletes: Iterable<string>,
): Buffer | null {
  if (!(puts instanceof SnapshotEntries) || !puts.isPlain || puts.layers.length !== 1) return null
  const layer = puts.layers[0]!
  if (layer.start !== HEADER_BYTES) return null
  const keys = [...deletes].map((key) => Buffer.from(key, 'utf8'))
  const deletesBytes = keys.reduce((n, key) => n + 8 + key.length, 0)
  const { bytes } = layer
  if (layer.end + deletesBytes + SNAPSHOT_TRAILER_BYTES > bytes.length) return null
  let at = layer.end
  for (const key of keys) {
    bytes.writeUInt32BE(key.length, at)
    key.copy(bytes, at + 4)
    at += 4 + key.length
    bytes.writeInt32BE(-1, at)
    at += 4
  }
  writeHeader(bytes, kind, epoch, layer.count + keys.length)
  bytes.writeUInt32BE(crc32(bytes.subarray(0, at)), at)
  return bytes.subarray(0, at + SNAPSHOT_TRAILER_BYTES)
}

/**
 * The same entries as encodeSnapshotFile, as several files of at most about `maxBytes` each (an
 * entry larger than that gets a file of its own), each with its own header, count and CRC, so
 * each is checked and read on its own. An entry is in exactly one of them and, within one epoch,
 * a key is named once, so the files may be applied in any order. No entries: no files.
 * The Redis store keeps a snapshot as such chunks (bounded values; docs/decisions/0029).
 */
export function encodeSnapshotChunks(
  kind: SnapshotKind,
  epoch: number,
  puts: Iterable<[string, Buffer]>,
  deletes: Iterable<string>,
  maxBytes: number,
): Buffer[] {
  const { layer } = writeEntries(0, puts, deletes).finish()
  return chunksOfLayer(layer, kind, epoch, maxBytes)
}

/** Splits a layer's entries (encoded back to back) into files at entry boundaries. */
export function chunksOfLayer(
  layer: EntryLayer,
  kind: SnapshotKind,
  epoch: number,
  maxBytes: number,
): Buffer[] {
  const chunks: Buffer[] = []
  const { bytes, offsets } = layer
  let from = layer.start
  let count = 0
  const cut = (to: number) => {
    const file = Buffer.allocUnsafe(HEADER_BYTES + (to - from) + 4)
    bytes.copy(file, HEADER_BYTES, from, to)
    writeHeader(file, kind, epoch, count)
    file.writeUInt32BE(crc32(file.subarray(0, file.length - 4)), file.length - 4)
    chunks.push(file)
    from = to
    count = 0
  }
  for (let i = 0; i < layer.count; i++) {
    const valueStart = offsets[i * 4 + 2]!
    // Where entry i ends: after its value, or after a deletion's length field.
    const end = valueStart === DELETED ? offsets[i * 4 + 1]! + 4 : offsets[i * 4 + 3]!
    if (count > 0 && end - from > maxBytes) cut(offsets[i * 4]! - 4)
    count++
  }
  if (count > 0) cut(layer.end)
  return chunks
}

/** Entries in snapshot-file encoding, from `start` of an EntryWriter (room for a header in front). */
function writeEntries(
  start: number,
  puts: Iterable<[string, Buffer]>,
  deletes: Iterable<string>,
): EntryWriter {
  const layers = puts instanceof SnapshotEntries && !puts.mayRepeat ? puts.layers : undefined
  const size = layers?.reduce((n, l) => n + l.end - l.start, 0) ?? 0
  const writer = new EntryWriter(start, start + size + 4096)
  if (layers === undefined) {
    for (const [key, value] of puts) {
      writer.key('', key)
      writer.value(value)
    }
  } else if (layers.length === 1 && (puts as SnapshotEntries).isPlain) writer.copy(layers[0]!)
  else mergeLayers(layers, writer)
  for (const key of deletes) {
    writer.key('', key)
    writer.deletion()
  }
  return writer
}

/** Writes the header and the CRC around entries written at HEADER_BYTES of an EntryWriter. */
export function finishFile(writer: EntryWriter, kind: SnapshotKind, epoch: number): Buffer {
  writer.reserve(4)
  const { bytes, end } = writer.finish()
  writeHeader(bytes, kind, epoch, writer.count)
  bytes.writeUInt32BE(crc32(bytes.subarray(0, end)), end)
  return bytes.subarray(0, end + 4)
}

function writeHeader(bytes: Buffer, kind: SnapshotKind, epoch: number, count: number): void {
  MAGIC.copy(bytes, 0)
  bytes[4] = VERSION
  bytes[5] = kind === 'base' ? 1 : 2
  bytes.writeUInt32BE(Math.floor(epoch / TWO_32), 6)
  bytes.writeUInt32BE(epoch % TWO_32, 10)
  bytes.writeUInt32BE(count, 14)
}

/** Starts an EntryWriter for a file (room for the header in front). */
export function fileWriter(capacity = 4096): EntryWriter {
  return new EntryWriter(HEADER_BYTES, capacity)
}

/**
 * Checks a file and indexes its entries in place: no string or Buffer per entry (keys and values
 * are read from the file's buffer when used), so a million keys decode in a few milliseconds.
 */
export function decodeSnapshotFile(bytes: Buffer, file: string): SnapshotFile {
  const fail = (why: string): never => {
    throw new SluiceError('STATE_CORRUPT', `state snapshot ${file} is damaged: ${why}`)
  }
  if (bytes.length < HEADER_BYTES + 4) fail(`${bytes.length} bytes is shorter than a header`)
  if (!bytes.subarray(0, 4).equals(MAGIC)) fail('not a Sluice state snapshot (bad magic)')
  if (bytes[4] !== VERSION) fail(`format version ${bytes[4]}, this Sluice reads ${VERSION}`)
  const stored = bytes.readUInt32BE(bytes.length - 4)
  if (crc32(bytes.subarray(0, bytes.length - 4)) !== stored) fail('checksum mismatch (torn or damaged)')
  const kind: SnapshotKind = bytes[5] === 1 ? 'base' : bytes[5] === 2 ? 'delta' : fail(`kind ${bytes[5]}`)
  const epoch = bytes.readUInt32BE(6) * TWO_32 + bytes.readUInt32BE(10)
  const count = bytes.readUInt32BE(14)
  const end = bytes.length - 4
  // At least 8 bytes an entry: a count beyond that is damage, not a reason to allocate.
  if (count > (end - HEADER_BYTES) / 8) fail(`${count} entries cannot fit in ${bytes.length} bytes`)
  const offsets = new OffsetsBuilder(count)
  let p = HEADER_BYTES
  for (let i = 0; i < count; i++) {
    if (p + 4 > end) fail(`entry ${i} runs past the end`)
    const keyLength = bytes.readUInt32BE(p)
    p += 4
    if (p + keyLength + 4 > end) fail(`entry ${i} runs past the end`)
    const keyStart = p
    p += keyLength
    const valueLength = bytes.readInt32BE(p)
    p += 4
    if (valueLength < 0) {
      offsets.add(keyStart, keyStart + keyLength, DELETED, DELETED)
      continue
    }
    if (p + valueLength > end) fail(`entry ${i} runs past the end`)
    offsets.add(keyStart, keyStart + keyLength, p, p + valueLength)
    p += valueLength
  }
  if (p !== end) fail(`${end - p} bytes after the last entry`)
  return { kind, epoch, layer: offsets.layer(bytes, HEADER_BYTES, end) }
}
