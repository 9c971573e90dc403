/**
 * The golden-file loop shared by the diagnostics golden tests: every `<name>.pipe` in a directory
 * is rendered and compared with `<name>.expected` beside it; with `UPDATE_GOLDEN=1` the expected
 * files are rewritten instead (then review the diff).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

/** The `.pipe` files of `dir`, sorted. */
export function goldenCases(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.pipe'))
    .sort()
}

/** One test per case of `dir`, and one that the directory has more than `moreThan` cases. */
export function describeGoldenCases(
  title: string,
  dir: string,
  options: { readonly moreThan: number },
  render: (pipePath: string) => string,
): void {
  const cases = goldenCases(dir)
  describe(title, () => {
    it('has cases', () => {
      expect(cases.length).toBeGreaterThan(options.moreThan)
    })

    for (const name of cases) {
      it(name, () => {
        const actual = render(join(dir, name))
        const expectedPath = join(dir, name.replace(/\.pipe$/, '.expected'))
        if (process.env.UPDATE_GOLDEN === '1') writeFileSync(expectedPath, actual)
        expect(actual).toBe(readFileSync(expectedPath, 'utf8'))
      })
    }
  })
}
