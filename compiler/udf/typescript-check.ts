/**
 * Checks each `import function` against the TypeScript module it names: the module must exist
 * and export a function that accepts the declared parameters and returns the declared type, as
 * TypeScript (strict) sees it. The Sluice types read as TypeScript types the way the runtime
 * represents values (stdlib/udf.ts): string → string, bool → boolean, i64/f64/timestamp/duration
 * → number, `T?` → `T | null`, `list<T>` → `T[]`, records → object types. A mismatch is E0367 at
 * the import, with TypeScript's own message; a missing module E0368.
 */
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, resolve } from 'node:path'
import { createDiagnostic, type Diagnostic } from '../diagnostics/diagnostic.ts'
import type { Pipeline, Type, UdfDecl } from '../ir/types.ts'

/** The TypeScript type of values of a Sluice type, as a UDF sees them. */
export function udfTsType(type: Type): string {
  switch (type.kind) {
    case 'string':
      return 'string'
    case 'bool':
      return 'boolean'
    case 'i64':
    case 'f64':
    case 'timestamp':
    case 'duration':
      return 'number'
    case 'null':
      return 'null'
    case 'optional':
      return `(${udfTsType(type.of)}) | null`
    case 'list':
      return `(${udfTsType(type.of)})[]`
    case 'map':
      return `Record<string, ${udfTsType(type.of)}>`
    case 'record':
      return `{ ${type.fields.map((f) => `${JSON.stringify(f.name)}: ${udfTsType(f.type)}`).join('; ')} }`
  }
}

/** How an import reads in messages. */
function signature(udf: UdfDecl): string {
  return `(${udf.params.map((p) => `${p.name}: ${udfTsType(p.type)}`).join(', ')}) => ${udfTsType(udf.result)}`
}

/** Longest TypeScript message quoted in a diagnostic. */
const MAX_TS_MESSAGE = 600

/** The diagnostics of the imports of `pipeline`, whose module paths are relative to `baseDir`. */
export function checkUdfModules(pipeline: Pipeline, baseDir: string): Diagnostic[] {
  const udfs = Object.values(pipeline.udfs ?? {})
  if (udfs.length === 0) return []
  const diagnostics: Diagnostic[] = []
  const present = udfs.filter((udf) => {
    const path = resolve(baseDir, udf.module)
    if (existsSync(path)) return true
    diagnostics.push(
      createDiagnostic(
        'E0368',
        `no TypeScript module at ${JSON.stringify(udf.module)} (paths are relative to the directory of the .pipe)`,
        udf.span,
      ),
    )
    return false
  })
  if (present.length === 0) return diagnostics
  // ts-morph (and TypeScript under it) loads only for a pipeline that imports a function, so
  // `sluice check` of any other file starts without it (cli/precompiled-cli.test.ts).
  const { Project, ts } = createRequire(import.meta.url)('ts-morph') as typeof import('ts-morph')
  const project = new Project({
    compilerOptions: {
      strict: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      allowImportingTsExtensions: true,
      noEmit: true,
      skipLibCheck: true,
      types: [],
    },
  })
  // One line per import, so a TypeScript error's line names the import it is about.
  const checkPath = resolve(baseDir, '__sluice_udf_check__.ts')
  const lines = present.map(
    (udf, i) =>
      `import { ${udf.name} as udf${i} } from ${JSON.stringify(udf.module.startsWith('.') ? udf.module : `./${udf.module}`)}; export const check${i}: ${signature(udf)} = udf${i}`,
  )
  const checkFile = project.createSourceFile(checkPath, lines.join('\n'), { overwrite: true })
  project.resolveSourceFileDependencies()
  const reported = new Set<number>()
  for (const d of project.getPreEmitDiagnostics()) {
    if (d.getCategory() !== ts.DiagnosticCategory.Error) continue
    const message = ts.flattenDiagnosticMessageText(d.compilerObject.messageText, '\n').replace(/\s+/g, ' ')
    const source = d.getSourceFile()
    if (source === checkFile) {
      const line = (d.getLineNumber() ?? 1) - 1
      const udf = present[line]
      if (udf === undefined || reported.has(line)) continue
      reported.add(line)
      diagnostics.push(
        createDiagnostic(
          'E0367',
          `the TypeScript function \`${udf.name}\` of ${JSON.stringify(udf.module)} does not fit this import, which calls it as \`${signature(udf)}\`; TypeScript says: ${clip(message)}`,
          udf.span,
        ),
      )
    } else if (source !== undefined) {
      // An error inside the module itself: report it at every import of that module once.
      const path = source.getFilePath()
      const udf = present.find((u) => resolve(baseDir, u.module) === path)
      if (udf === undefined || reported.has(-1 - present.indexOf(udf))) continue
      reported.add(-1 - present.indexOf(udf))
      diagnostics.push(
        createDiagnostic(
          'E0367',
          `the TypeScript module ${JSON.stringify(udf.module)} does not type-check: ${relativeTo(baseDir, path)}:${d.getLineNumber() ?? 0}: ${clip(message)}`,
          udf.span,
        ),
      )
    }
  }
  return diagnostics
}

function clip(text: string): string {
  return text.length > MAX_TS_MESSAGE ? `${text.slice(0, MAX_TS_MESSAGE)}…` : text
}

function relativeTo(baseDir: string, path: string): string {
  return path.startsWith(`${baseDir}/`) ? path.slice(baseDir.length + 1) : path
}

/** The directory module paths of `file` are relative to (the .pipe's own). */
export function udfBaseDir(file: string): string {
  return resolve(dirname(file))
}
