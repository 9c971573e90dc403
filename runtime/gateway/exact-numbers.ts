/**
 * Events the gateway parsed already (a JSON body, the items of a JSON array, a CloudEvent's
 * `data`) hold numbers as JSON.parse rounded them: an i64 written `100.0000000000000001` reads as
 * 100. The pipeline reads its records from their bytes and refuses such a number, naming the
 * field (specs/language.md, Event decoding), so the gateway must judge, and write, those bytes
 * too. These helpers find when that matters and which bytes an event of a body is; they assume
 * the text is valid JSON (JSON.parse took it already).
 */

/**
 * Whether JSON text may hold a number JSON.parse rounded: a run of more than 16 digits and
 * points, or an exponent of -100 or less (`1e-400` underflows to 0). The same test as the
 * generated decoders' `mayHideRounding` (compiler/codegen/codecs.ts), so the gateway takes the
 * byte path exactly where the pipeline's decoder checks the text.
 */
export function mayHideRounding(bytes: Uint8Array): boolean {
  let run = 0
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!
    if ((c >= 0x30 && c <= 0x39) || (c === 0x2e && run > 0)) {
      if (++run > 16) return true
    } else {
      run = 0
      if (
        c === 0x2d &&
        i > 0 &&
        (bytes[i - 1]! | 0x20) === 0x65 &&
        isDigit(bytes[i + 1]) &&
        isDigit(bytes[i + 2]) &&
        isDigit(bytes[i + 3])
      )
        return true
    }
  }
  return false
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39
}

/** The bytes of each item of a JSON array, as written (whitespace around an item left out). */
export function arrayItems(bytes: Buffer): Buffer[] {
  const items: Buffer[] = []
  let i = skipSpace(bytes, 0)
  if (bytes[i] !== 0x5b) return items
  i = skipSpace(bytes, i + 1)
  while (i < bytes.length && bytes[i] !== 0x5d) {
    const end = skipValue(bytes, i)
    items.push(bytes.subarray(i, end))
    i = skipSpace(bytes, end)
    if (bytes[i] === 0x2c) i = skipSpace(bytes, i + 1)
  }
  return items
}

/**
 * The bytes of the value of a JSON object's member `name`, as written; the last one when the name
 * is given twice, as JSON.parse keeps the last. Undefined when the object has no such member.
 */
export function memberValue(bytes: Buffer, name: string): Buffer | undefined {
  let found: Buffer | undefined
  let i = skipSpace(bytes, 0)
  if (bytes[i] !== 0x7b) return undefined
  i = skipSpace(bytes, i + 1)
  while (i < bytes.length && bytes[i] !== 0x7d) {
    const keyEnd = skipValue(bytes, i)
    // A key may be written with escapes (`"d\u0061ta"`): compare it decoded.
    const key = JSON.parse(bytes.toString('utf8', i, keyEnd)) as string
    i = skipSpace(bytes, keyEnd)
    i = skipSpace(bytes, i + 1) // the colon
    const end = skipValue(bytes, i)
    if (key === name) found = bytes.subarray(i, end)
    i = skipSpace(bytes, end)
    if (bytes[i] === 0x2c) i = skipSpace(bytes, i + 1)
  }
  return found
}

function skipSpace(bytes: Uint8Array, from: number): number {
  let i = from
  while (i < bytes.length) {
    const c = bytes[i]!
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break
    i++
  }
  return i
}

/** The index just after the JSON value that starts at `from` (the body's end when it is not closed). */
export function skipValue(bytes: Uint8Array, from: number): number {
  let i = from
  let depth = 0
  do {
    const c = bytes[i]!
    if (c === 0x22) i = skipString(bytes, i)
    else if (c === 0x7b || c === 0x5b) {
      depth++
      i++
    } else if (c === 0x7d || c === 0x5d) {
      depth--
      i++
    } else if (depth === 0) {
      // A number, true, false or null: up to the next delimiter.
      while (i < bytes.length && !isDelimiter(bytes[i]!)) i++
    } else i++
  } while (depth > 0 && i < bytes.length)
  return i
}

function skipString(bytes: Uint8Array, from: number): number {
  let i = from + 1
  while (i < bytes.length && bytes[i] !== 0x22) i += bytes[i] === 0x5c ? 2 : 1
  return i + 1
}

function isDelimiter(c: number): boolean {
  return c === 0x2c || c === 0x5d || c === 0x7d || c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d
}
