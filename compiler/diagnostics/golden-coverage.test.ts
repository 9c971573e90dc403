/**
 * Every diagnostic in the catalogue has a golden example (issue 17, "golden diagnostics for every
 * new error"): some `specs/diagnostics/**\/*.expected` prints its code, as `sluice check` does
 * (golden.test.ts) or, for what only compile reports, as `sluice compile` does
 * (compile-golden.test.ts). A code added without an example fails here, naming it; so does a
 * golden file that prints a code the catalogue does not have.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { diagnosticCatalogue } from './catalogue.ts'

const dir = fileURLToPath(new URL('../../specs/diagnostics', import.meta.url))

/**
 * Codes no golden file can show, each with why. E9999 is what the front end reports when it
 * throws: no input is meant to produce it (frontend.test.ts checks fuzzed specs never do).
 */
const WITHOUT_GOLDEN: Readonly<Record<string, string>> = {
  E9999: 'internal compiler error: reported only when the compiler itself fails',
}

/** The codes printed as `error[CODE]` or `warning[CODE]` by the golden files. */
function goldenCodes(): Set<string> {
  const codes = new Set<string>()
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.expected'))
  for (const file of files) {
    for (const m of readFileSync(join(dir, file), 'utf8').matchAll(/^(?:error|warning)\[([EW]\d{4})\]/gm))
      codes.add(m[1]!)
  }
  return codes
}

describe('golden examples of the diagnostic catalogue', () => {
  const printed = goldenCodes()
  const catalogue = Object.keys(diagnosticCatalogue)

  it('shows every code of the catalogue in a golden file, but the ones listed with a reason', () => {
    const missing = catalogue.filter((code) => !printed.has(code) && !(code in WITHOUT_GOLDEN))
    expect(missing).toEqual([])
  })

  it('lists as without a golden only catalogue codes that indeed have none', () => {
    for (const code of Object.keys(WITHOUT_GOLDEN)) {
      expect(catalogue).toContain(code)
      expect(printed.has(code)).toBe(false)
    }
  })

  it('prints no code that is missing from the catalogue', () => {
    expect([...printed].filter((code) => !(code in diagnosticCatalogue))).toEqual([])
  })
})
