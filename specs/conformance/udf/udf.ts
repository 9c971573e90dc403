import { weight } from './weights.ts'

/** The amount weighted by how risky its country is (an unknown country counts double). */
export function risk_score(amount: number, country: string | null): number {
  return amount * weight(country)
}

/** The first letter of each word of a name. */
export function initials(name: string): string {
  return name
    .split(' ')
    .map((part) => part[0] ?? '')
    .join('')
}
