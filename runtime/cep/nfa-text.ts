/**
 * The NFA as text, one line per state (`sluice explain`, tests, docs/cep.md):
 * `index name kind [wN]: action->target[condition] …`, conditions written with the steps' names.
 */
import type { Nfa, NfaCondition } from './nfa-types.ts'

export function conditionText(condition: NfaCondition, stepNames: readonly string[]): string {
  switch (condition.kind) {
    case 'true':
      return 'true'
    case 'step':
      return stepNames[condition.step] ?? `#${condition.step}`
    case 'until':
      return `until(${stepNames[condition.step] ?? `#${condition.step}`})`
    case 'not':
      return `!${conditionText(condition.of, stepNames)}`
    case 'and':
      return `(${condition.of.map((c) => conditionText(c, stepNames)).join(' & ')})`
    case 'or':
      return `(${condition.of.map((c) => conditionText(c, stepNames)).join(' | ')})`
  }
}

export function nfaText(nfa: Nfa, stepNames: readonly string[]): string[] {
  return nfa.states.map((state, i) => {
    const window = state.windowMs === null ? '' : ` w${state.windowMs}`
    const edges = state.edges
      .map((edge) => `${edge.action}->${edge.target}[${conditionText(edge.condition, stepNames)}]`)
      .join(' ')
    return `${i} ${state.name} ${state.kind}${window}:${edges === '' ? '' : ` ${edges}`}`
  })
}
