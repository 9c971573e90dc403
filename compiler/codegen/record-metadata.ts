/**
 * Whether generated code needs the source record of each event: only a chain whose expressions
 * call a record metadata function (record_key(), record_header(…), …) reads it, so every other
 * chain's loop stays as it was (specs/language.md, "Record metadata").
 */
import { isRecordMetadataFunction } from '../../stdlib/record-metadata.ts'
import { childrenOf } from '../ir/expr.ts'
import type { Expr, FusedStep } from '../ir/types.ts'

/** The JS variable a chain's loop binds to the event's source record when it needs it. */
export const SOURCE_RECORD = 'rec'

export function readsRecordMetadata(expr: Expr): boolean {
  if (expr.kind === 'Call' && isRecordMetadataFunction(expr.fn)) return true
  return childrenOf(expr).some(readsRecordMetadata)
}

/** The expressions of one fused step. */
function stepExpressions(step: FusedStep): readonly Expr[] {
  switch (step.kind) {
    case 'Filter':
      return [step.predicate]
    case 'Map':
      return step.fields.map((f) => f.value)
    case 'KeyBy':
      return [step.key]
    case 'Explode':
      return [step.list]
    case 'Dedup':
      return step.keys
    case 'Aggregate':
      return [
        ...step.keys.map((k) => k.value),
        ...step.aggregates.flatMap((a) => (a.arg === null ? [] : [a.arg])),
      ]
  }
}

export function stepsReadRecordMetadata(steps: readonly FusedStep[]): boolean {
  return steps.some((step) => stepExpressions(step).some(readsRecordMetadata))
}
