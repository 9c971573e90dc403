/**
 * One "`||` is spelled `or`" report per `and`/`or` chain (issue 17). The lexer reports each C
 * spelling where it stands, which for a generated 2,000-term `s || s || …` filter is 1,999 errors
 * saying the same thing; the parser knows the chains, so it keeps the first report of each chain,
 * says how many times the chain repeats it, and drops the rest.
 */
import { createDiagnostic, type Diagnostic } from '../diagnostics/diagnostic.ts'
import type { Token } from './lexer.ts'

export class SpellingHintsPerChain {
  /** Start of a chain's first misspelt operator → its spelling and how many the chain has (two or more). */
  private readonly first = new Map<number, { readonly spelling: string; readonly count: number }>()
  /** Starts of the other misspelt operators of those chains. */
  private readonly dropped = new Set<number>()

  /** The operator tokens of one `and` (or `or`) chain, as parsed. */
  chain(ops: readonly Token[]): void {
    const misspelt = ops.filter((op) => op.spelledAs === '&&' || op.spelledAs === '||')
    if (misspelt.length < 2) return
    this.first.set(misspelt[0]!.start, { spelling: misspelt[0]!.spelledAs!, count: misspelt.length })
    for (const op of misspelt.slice(1)) this.dropped.add(op.start)
  }

  /** The diagnostics with one spelling report per chain; only the lexer's E0001 stand at those operators. */
  apply(diagnostics: readonly Diagnostic[]): Diagnostic[] {
    if (this.first.size === 0) return [...diagnostics]
    return diagnostics.flatMap((d) => {
      if (d.code !== 'E0001') return [d]
      if (this.dropped.has(d.span.start)) return []
      const chain = this.first.get(d.span.start)
      if (chain === undefined) return [d]
      const repeats = `this chain writes \`${chain.spelling}\` ${chain.count} times`
      return [createDiagnostic('E0001', `${d.message} (${repeats})`, d.span)]
    })
  }
}
