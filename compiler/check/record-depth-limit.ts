/**
 * How deep records may nest, in a schema (a chain of schemas each holding the next) and in a
 * stream (each `select { r: { x: r } }` wraps its input's record in one more): deeper, E0216 where
 * the limit is crossed (issue 17, defects 1 and 2).
 *
 * Why 1,000: the walks over deep types that would recurse once per level (the type table, the
 * codec writer, record naming) take no stack whatever the depth (type-table.ts, codecs.ts), but
 * others still recurse once per level with a few frames each: the checker's type walks (equality,
 * nulls in a type, formatting) and, at run time, the generated decoders, encoders and walkers
 * (one call per level) and JSON.stringify. On Node's default stack the first of them overflows
 * between 2,000 and 3,000 levels (checker: containsBareNull), so 1,000 keeps a margin of two for
 * callers that already use stack (a test runner, a server) and for larger frames, and is far more
 * than JSON events nest (the 400 chained schemas of the issue compile and run).
 */
export const MAX_RECORD_DEPTH = 1000
