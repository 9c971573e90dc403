import type { Span } from '../ir/types.ts'
import { type DiagnosticCode, diagnosticCatalogue } from './catalogue.ts'

export type Severity = 'error' | 'warning'

/** A secondary location that explains the primary one ("first defined here"). */
export interface RelatedInformation {
  readonly message: string
  readonly span: Span
}

/** One problem found in a `.pipe` file. `span` offsets are UTF-16 code-unit indices into the text. */
export interface Diagnostic {
  readonly code: DiagnosticCode
  readonly severity: Severity
  readonly message: string
  readonly span: Span
  readonly related?: readonly RelatedInformation[]
}

/** Builds a diagnostic whose severity comes from the catalogue, so a code can never change severity at one call site. */
export function createDiagnostic(
  code: DiagnosticCode,
  message: string,
  span: Span,
  related?: readonly RelatedInformation[],
): Diagnostic {
  const base = { code, severity: diagnosticCatalogue[code].severity, message, span }
  return related && related.length > 0 ? { ...base, related } : base
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error')
}

/** Orders diagnostics by file and position; stable, so same-position diagnostics keep report order. */
export function sortDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  return [...diagnostics].sort((a, b) =>
    a.span.file === b.span.file ? a.span.start - b.span.start : a.span.file < b.span.file ? -1 : 1,
  )
}
