/**
 * Field names in generated code. A field may be named anything a quoted name can spell
 * (`` `user-id` ``, `` `a"b` ``, `` `constructor` ``), so a name is never spliced into code as it is:
 * it is used bare only when it is a plain JavaScript identifier, and otherwise as a string literal.
 */
const PLAIN = /^[A-Za-z_$][A-Za-z0-9_$]*$/

/** The key of a property in an object literal or a TypeScript type: `name` or `"user-id"`. */
export function propertyKey(name: string): string {
  // `{ "__proto__": v }` would set the prototype; the computed form makes a property (the checker
  // refuses the name for records, but a generated key must never depend on that).
  if (name === '__proto__') return `[${JSON.stringify(name)}]`
  return PLAIN.test(name) ? name : JSON.stringify(name)
}

/** Reading property `name` of the object expression `object`: `o.name` or `o["user-id"]`. */
export function propertyAccess(object: string, name: string): string {
  return PLAIN.test(name) ? `${object}.${name}` : `${object}[${JSON.stringify(name)}]`
}

/** Whether a name is an array index (`0`, `17`), which a JavaScript object orders before other keys. */
export function isArrayIndexName(name: string): boolean {
  return /^(0|[1-9][0-9]*)$/.test(name) && Number(name) < 2 ** 32 - 1
}
