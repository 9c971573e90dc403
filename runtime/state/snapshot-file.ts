import { SluiceError } from '../errors.ts'
import { crc32 } from '../log/embedded/crc32.ts'

/**
 * The file format of a snapshot (a whole state, `base`) or of one epoch's changes (`delta`):
 *
 *   magic "SLST" | u8 version (1) | u8 kind (1 base, 2 delta) | u64 epoch | u32 count
 *   count × ( u32 keyLength | key UTF-8 | i32 valueLength (-1: deleted) | value )
 *   u32 CRC-32 of everything before it
 *
 * Integers are big-endian. The CRC covers the whole file, so a torn or damaged file is refused
 * (STATE_CORRUPT naming it), never half read.
 */
const MAGIC = Buffer.from('SLST')
const VERSION = 1
const HEADER_BYTES = 4 + 1 + 1 + 8 + 4
const TWO_32 = 2 ** 32

export type SnapshotKind = 'base' | 'delta'

export interface SnapshotFile {
  readonly kind: SnapshotKind
  readonly epoch: number
  /** Key → value, or null for a deletion (deltas only). In file order. */
  readonly entries: Map<string, Buffer | null>
}

export function encodeSnapshotFile(
  kind: SnapshotKind,
  epoch: number,
  puts: Iterable<[string, Buffer]>,
  deletes: Iterable<string> = [],
): Buffer {
  const parts: Buffer[] = []
  let count = 0
  let size = HEADER_BYTES + 4
  const header = Buffer.alloc(HEADER_BYTES)
  parts.push(header)
  for (const [key, value] of puts) {
    const k = Buffer.from(key, 'utf8')
    const lengths = Buffer.alloc(8)
    lengths.writeUInt32BE(k.length, 0)
    lengths.writeInt32BE(value.length, 4)
    parts.push(lengths.subarray(0, 4), k, lengths.subarray(4), value)
    size += 8 + k.length + value.length
    count++
  }
  for (const key of deletes) {
    const k = Buffer.from(key, 'utf8')
    const lengths = Buffer.alloc(8)
    lengths.writeUInt32BE(k.length, 0)
    lengths.writeInt32BE(-1, 4)
    parts.push(lengths.subarray(0, 4), k, lengths.subarray(4))
    size += 8 + k.length
    count++
  }
  MAGIC.copy(header, 0)
  header[4] = VERSION
  header[5] = kind === 'base' ? 1 : 2
  header.writeUInt32BE(Math.floor(epoch / TWO_32), 6)
  header.writeUInt32BE(epoch % TWO_32, 10)
  header.writeUInt32BE(count, 14)
  const body = Buffer.concat(parts, size - 4)
  const out = Buffer.allocUnsafe(size)
  body.copy(out, 0)
  out.writeUInt32BE(crc32(body), size - 4)
  return out
}

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
  const entries = new Map<string, Buffer | null>()
  const end = bytes.length - 4
  let p = HEADER_BYTES
  for (let i = 0; i < count; i++) {
    if (p + 4 > end) fail(`entry ${i} runs past the end`)
    const keyLength = bytes.readUInt32BE(p)
    p += 4
    if (p + keyLength + 4 > end) fail(`entry ${i} runs past the end`)
    const key = bytes.toString('utf8', p, p + keyLength)
    p += keyLength
    const valueLength = bytes.readInt32BE(p)
    p += 4
    if (valueLength < 0) {
      entries.set(key, null)
      continue
    }
    if (p + valueLength > end) fail(`entry ${i} runs past the end`)
    // A view, not a copy: a restore of a million keys then allocates no value buffers. The file's
    // buffer stays alive while a restored value is still in its raw form (decoded on first use,
    // dropped when the key is next written), which is at most the size of the state itself.
    entries.set(key, bytes.subarray(p, p + valueLength))
    p += valueLength
  }
  if (p !== end) fail(`${end - p} bytes after the last entry`)
  return { kind, epoch, entries }
}
