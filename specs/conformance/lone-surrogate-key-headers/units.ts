/** The first UTF-16 code unit of a string: half of a pair when it starts with an emoji. */
export function first_unit(s: string): string {
  return s.slice(0, 1)
}
