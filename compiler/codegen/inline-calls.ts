/**
 * Stdlib calls the generated code writes as the JavaScript they are, instead of a call of the
 * function bound from the stdlib: the same result (stdlib/index.ts has the implementation the
 * interpreter runs), without a call the JIT may not inline. Only functions that cannot fail and
 * propagate null, whose arguments the caller has already tested against null; each gives an
 * expression that binds tighter than any operator around it.
 */
export const INLINE_CALLS: Readonly<Record<string, (args: readonly string[]) => string>> = {
  // UTF-16 code units of a string or the items of a list, which is what `.length` counts
  // (specs/language.md §12 `len`); the caller never inlines `len` of a map (its keys).
  len: ([value]) => `${value}.length`,
}
