export function weight(country: string | null): number {
  if (country === null) return 2
  return country === 'US' ? 1 : 1.5
}
