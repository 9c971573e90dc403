/**
 * The risk model of risk.pipe, written in TypeScript: `sluice compile` checks this signature
 * against the pipe's `import function` line and bundles the module into the artifact, so a change
 * here gives a new artifact id. Sluice passes f64 as a number and `string?` as string | null.
 */

/** How much a merchant category adds; an unknown or missing category is treated as 0.15. */
const CATEGORY_RISK: Readonly<Record<string, number>> = { travel: 0.2, retail: 0.05, food: 0.02 }

/** A score in [0, 1], rounded to hundredths: size of the payment, merchant category, foreign card. */
export function risk_score(amount: number, category: string | null, foreign: boolean): number {
  const size = Math.min(amount / 2000, 1) * 0.5
  const kind = category === null ? 0.15 : (CATEGORY_RISK[category] ?? 0.15)
  return Math.round((size + kind + (foreign ? 0.25 : 0)) * 100) / 100
}
