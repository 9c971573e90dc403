// TypeScript functions imported by specs/diagnostics/udf-imports.pipe, some with signatures that
// do not fit their imports.
export function score(amount: number, country: string): number {
  return country === 'US' ? amount : amount * 2
}

export function label(code: number): string {
  return `#${code}`
}

export function maybe(value: string): string | null {
  return value === '' ? null : value
}
