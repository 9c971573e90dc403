/**
 * The `.pipe` front end in one call: lex + parse (with recovery), check, lower to the IR.
 * `sluice check` prints `diagnostics` with `formatDiagnostics`; `sluice compile` goes on only
 * when `pipeline` is non-null.
 */
import { checkProgram } from './check/check.ts'
import { createDiagnostic, type Diagnostic, hasErrors, sortDiagnostics } from './diagnostics/diagnostic.ts'
import type { Pipeline } from './ir/types.ts'
import { parse } from './parse/parser.ts'
import { checkUdfModules, udfBaseDir } from './udf/typescript-check.ts'

export interface FrontendResult {
  /** Null when there is any error; warnings alone keep the pipeline. */
  readonly pipeline: Pipeline | null
  /** Lexer, parser and checker diagnostics, ordered by position. */
  readonly diagnostics: Diagnostic[]
}

export interface CheckOptions {
  /**
   * The directory the modules of `import function` are relative to; defaults to the directory of
   * `file` (resolved against the working directory).
   */
  readonly udfBaseDir?: string
}

/**
 * Checks one `.pipe` file. Never throws: an exception inside the front end is a compiler bug and
 * comes back as an E9999 diagnostic (the fuzz tests assert it never does), so a caller such as a
 * language server or the CLI always gets a report.
 */
export function checkSource(file: string, text: string, options: CheckOptions = {}): FrontendResult {
  try {
    const parsed = parse(file, text)
    const checked = checkProgram(parsed.ast, file, parsed.incomplete, parsed.diagnostics)
    // Imported functions are checked against their TypeScript modules once the file itself checks.
    const udfDiagnostics =
      checked.pipeline?.udfs === undefined
        ? []
        : checkUdfModules(checked.pipeline, options.udfBaseDir ?? udfBaseDir(file))
    return {
      pipeline: hasErrors(udfDiagnostics) ? null : checked.pipeline,
      diagnostics: sortDiagnostics([...parsed.diagnostics, ...checked.diagnostics, ...udfDiagnostics]),
    }
  } catch (error) {
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error)
    return {
      pipeline: null,
      diagnostics: [
        createDiagnostic('E9999', `internal compiler error; please report it with this file: ${detail}`, {
          file,
          start: 0,
          end: 0,
        }),
      ],
    }
  }
}
