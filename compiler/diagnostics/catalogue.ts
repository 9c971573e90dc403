/**
 * Every diagnostic the `.pipe` front end can report, in one `as const` table: the code is the
 * stable identifier tools and tests branch on (messages may be reworded), the severity is fixed
 * per code, and `title` is the one-line summary used in docs/language.md and by `--explain`-style
 * tooling. Codes are grouped by phase: E00xx lexical, E01xx syntax, E02xx names, E03xx types,
 * E04xx event time and connectors, W0xxx warnings, E9xxx internal.
 */
export const diagnosticCatalogue = {
  // Lexical
  E0001: { severity: 'error', title: 'unexpected character' },
  E0002: { severity: 'error', title: 'unterminated string literal' },
  E0003: { severity: 'error', title: 'invalid escape sequence in string literal' },
  E0004: { severity: 'error', title: 'unterminated block comment' },
  E0005: { severity: 'error', title: 'invalid number or duration literal' },
  // Syntax
  E0101: { severity: 'error', title: 'unexpected token' },
  E0102: { severity: 'error', title: 'comparisons cannot be chained' },
  E0103: { severity: 'error', title: 'record field needs a name' },
  E0104: { severity: 'error', title: 'nesting too deep' },
  E0105: { severity: 'error', title: 'reserved word as a field name' },
  // Names
  E0201: { severity: 'error', title: 'unknown type or schema' },
  E0202: { severity: 'error', title: 'unknown stream or source' },
  E0203: { severity: 'error', title: 'unknown field' },
  E0204: { severity: 'error', title: 'unknown function' },
  E0205: { severity: 'error', title: 'duplicate schema' },
  E0206: { severity: 'error', title: 'duplicate stream or source' },
  E0207: { severity: 'error', title: 'duplicate field' },
  E0208: { severity: 'error', title: 'recursive schema' },
  E0209: { severity: 'error', title: 'stream used before its declaration' },
  E0210: { severity: 'error', title: 'unknown connector' },
  E0211: { severity: 'error', title: 'unknown annotation' },
  E0212: { severity: 'error', title: 'reserved field name' },
  E0213: { severity: 'error', title: 'schema named like a built-in type' },
  E0214: { severity: 'error', title: 'nothing to run' },
  E0215: { severity: 'error', title: 'empty select' },
  E0216: { severity: 'error', title: 'records nested too deeply' },
  E0217: { severity: 'error', title: 'unknown aggregate function' },
  E0218: { severity: 'error', title: 'empty aggregate' },
  // Types
  E0301: { severity: 'error', title: 'operator cannot be applied to these types' },
  E0302: { severity: 'error', title: 'condition is not a bool' },
  E0303: { severity: 'error', title: 'wrong number of arguments' },
  E0304: { severity: 'error', title: 'wrong argument type' },
  E0305: { severity: 'error', title: 'invalid index' },
  E0306: { severity: 'error', title: 'member access on a value that is not a record' },
  E0307: { severity: 'error', title: 'incompatible types' },
  E0308: { severity: 'error', title: 'key is not a scalar' },
  E0309: { severity: 'error', title: 'division by zero' },
  E0310: { severity: 'error', title: 'type cannot be inferred' },
  E0311: { severity: 'error', title: 'comparison with null' },
  E0312: { severity: 'error', title: 'invalid field type' },
  // Event time, watermarks, connectors
  E0401: { severity: 'error', title: 'more than one @event_time field' },
  E0402: { severity: 'error', title: 'invalid @event_time field' },
  E0403: { severity: 'error', title: 'invalid watermark field' },
  E0404: { severity: 'error', title: 'invalid connector arguments' },
  E0405: { severity: 'error', title: 'connector cannot be used here' },
  E0406: { severity: 'error', title: 'sink writes a topic the pipeline reads' },
  E0407: { severity: 'error', title: 'record timestamp on a sink that writes no records' },
  E0408: { severity: 'error', title: 'sink writes the dead-letter topic' },
  E0409: { severity: 'error', title: 'dedup duration is not positive' },
  E0410: { severity: 'error', title: 'invalid window' },
  E0411: { severity: 'error', title: 'window over the output of a window' },
  E0412: { severity: 'error', title: 'WebAssembly kernel not built' },
  E0420: { severity: 'error', title: 'lateness on a count window' },
  E0421: { severity: 'error', title: 'invalid emit clause' },
  // Warnings
  W0001: { severity: 'warning', title: 'stream is never used' },
  W0002: { severity: 'warning', title: 'source is never used' },
  W0003: { severity: 'warning', title: 'null test on a value that is never null' },
  W0004: { severity: 'warning', title: 'left side of `??` is never null' },
  W0005: { severity: 'warning', title: 'watermark field is not the event-time field' },
  W0006: { severity: 'warning', title: 'the same stream is sunk to one topic twice' },
  W0007: { severity: 'warning', title: 'WebAssembly kernel not built' },
  // Internal
  E9999: { severity: 'error', title: 'internal compiler error' },
} as const satisfies Record<string, { severity: 'error' | 'warning'; title: string }>

export type DiagnosticCode = keyof typeof diagnosticCatalogue
