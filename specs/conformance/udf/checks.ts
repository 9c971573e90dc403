export function checked_ratio(a: number, b: number): number {
  if (b === 0) throw new Error('ratio of nothing')
  return a / b
}
