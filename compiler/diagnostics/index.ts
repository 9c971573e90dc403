export { type DiagnosticCode, diagnosticCatalogue } from './catalogue.ts'
export {
  createDiagnostic,
  type Diagnostic,
  hasErrors,
  type RelatedInformation,
  type Severity,
  sortDiagnostics,
} from './diagnostic.ts'
export {
  type FormatOptions,
  formatDiagnostic,
  formatDiagnostics,
  type LineColumn,
  lineColumnOf,
  lineStarts,
  MAX_SHOWN_DIAGNOSTICS,
  summarizeDiagnostics,
} from './format.ts'
