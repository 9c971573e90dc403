/**
 * Lines of a byte stream as the bytes they are (LF or CR LF ends them; the last line may lack
 * one). `readline` decodes to strings, which replaces invalid UTF-8 with U+FFFD: `sluice produce`
 * must append what it was given, so the pipeline can dead-letter a bad line with its own bytes.
 */
export async function* byteLines(input: AsyncIterable<Buffer | string>): AsyncGenerator<Buffer> {
  let pending: Buffer = Buffer.alloc(0)
  for await (const chunk of input) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
    let data = pending.length === 0 ? bytes : Buffer.concat([pending, bytes])
    let from = 0
    for (let nl = data.indexOf(10, from); nl >= 0; nl = data.indexOf(10, from)) {
      yield withoutCr(data.subarray(from, nl))
      from = nl + 1
    }
    // Copied, so the rest does not pin the whole chunk while the next one is read.
    pending = Buffer.from(data.subarray(from))
    data = pending
  }
  if (pending.length > 0) yield withoutCr(pending)
}

function withoutCr(line: Buffer): Buffer {
  return line.length > 0 && line[line.length - 1] === 13 ? line.subarray(0, line.length - 1) : line
}

/** Whether a line holds nothing but spaces and tabs (skipped, as blank lines are). */
export function isBlank(line: Buffer): boolean {
  for (const byte of line) if (byte !== 32 && byte !== 9 && byte !== 13) return false
  return true
}
