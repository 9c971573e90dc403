/**
 * Packages generated code into an artifact: an immutable, content-addressed directory that is the
 * whole contract between the compiler and the runtime (specs/artifact.md).
 *
 *   manifest.json            what the runtime reads first: inputs, outputs, schemas, graph, sites, hash
 *   operators.generated.ts   the generated TypeScript (for people and for type checking)
 *   operators.mjs            the same, transpiled: what the runtime imports (.mjs: ESM wherever the
 *                            artifact directory lives, whatever package.json is above it)
 *   operators.mjs.map        source map to the .pipe file
 *
 * The content hash covers every file but the manifest plus the manifest without its hash field,
 * so two compiles of the same source by the same compiler give the same hash, and any edit to
 * any file is detected by the runtime before it runs the artifact.
 */

import { createHash } from 'node:crypto'
import { lstat, mkdir, readdir, readFile, realpath, rename, rm, writeFile } from 'node:fs/promises'
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { transformSync } from 'esbuild'
import type { GeneratedModule } from '../codegen/generate.ts'
import { GENERATED_FILE } from '../codegen/generate.ts'
import { lineColumnOf, lineStarts } from '../diagnostics/index.ts'
import type {
  Connector,
  Pipeline,
  RecordTimestampMode,
  RecordType,
  SinkNode,
  SourceNode,
} from '../ir/types.ts'
import { UDF_BUNDLE_FILE } from '../udf/bundle.ts'
import { encodeManifestTypes, formatManifestJson } from './manifest-encoding.ts'
import { buildSourceMap } from './source-map.ts'

export const ARTIFACT_FORMAT = 'sluice-artifact'
/** 2: types by reference (`types`, specs/artifact.md "Types"); 1 spelled every type out. */
export const ARTIFACT_FORMAT_VERSION = 2
export const MODULE_FILE = 'operators.mjs'
export const SOURCE_MAP_FILE = 'operators.mjs.map'
export const MANIFEST_FILE = 'manifest.json'

export interface ManifestSite {
  readonly file: string
  readonly line: number
  readonly column: number
  readonly endLine: number
  readonly endColumn: number
}

export interface Manifest {
  readonly format: typeof ARTIFACT_FORMAT
  readonly formatVersion: typeof ARTIFACT_FORMAT_VERSION
  readonly name: string
  readonly compiler: { readonly name: 'sluice'; readonly version: string }
  readonly irVersion: number
  /** `sha256:<hex>`; see `contentHash`. */
  readonly contentHash: string
  readonly source: { readonly file: string; readonly sha256: string }
  readonly files: {
    readonly module: string
    readonly typescript: string
    readonly sourceMap: string
    /** The bundle of the imported functions' TypeScript modules; absent when there are none. */
    readonly udfs?: string
  }
  readonly inputs: readonly {
    readonly source: string
    readonly connector: Connector
    readonly schema: RecordType
    readonly eventTimeField: string | null
    readonly watermark: { readonly field: string; readonly delayMs: number } | null
  }[]
  readonly outputs: readonly {
    readonly sink: string
    /** The sunk source or stream (not unique: one stream may have several sinks). */
    readonly name: string
    readonly connector: Connector
    readonly recordTimestamp: RecordTimestampMode
    readonly schema: RecordType
  }[]
  readonly schemas: Pipeline['schemas']
  /** The optimised IR: the operator graph the runtime wires. */
  readonly graph: Pipeline
  /** Locations that evaluation errors and the source map refer to, by index. */
  readonly sites: readonly ManifestSite[]
  /** WebAssembly kernels shipped with the artifact: `<name>.wasm` files the window operators run. */
  readonly wasm: readonly { readonly name: string; readonly file: string; readonly sha256: string }[]
}

export interface Artifact {
  /**
   * The manifest with whole types (shared objects). manifest.json holds its encoding, types by
   * reference (manifest-encoding.ts), which is what the content hash covers.
   */
  readonly manifest: Manifest
  /** File name → text content, manifest.json included. */
  readonly files: ReadonlyMap<string, string>
  /** Binary files: the WebAssembly kernels, `<name>.wasm` → bytes (listed in the manifest's `wasm`). */
  readonly binaryFiles: ReadonlyMap<string, Uint8Array>
}

export interface PackageInput {
  readonly name: string
  readonly compilerVersion: string
  readonly sourceFile: string
  readonly sourceText: string
  readonly pipeline: Pipeline
  readonly module: GeneratedModule
  /** WebAssembly kernels to ship, by name (written as `<name>.wasm`). */
  readonly kernels?: ReadonlyMap<string, Uint8Array>
  /** The bundle of the imported functions (compiler/udf/bundle.ts), shipped as `udfs.mjs`. */
  readonly udfBundle?: string | null
}

export function packageArtifact(input: PackageInput): Artifact {
  const { pipeline, module, sourceText } = input
  // esbuild strips the types (no type check: tests type-check generated code, codegen.test.ts);
  // loading TypeScript to transpile took about half of `sluice compile` (issue 17, a fast CLI).
  // It keeps `/*!` comments where they stand, which the site markers are.
  const transpiled = transformSync(module.typescript, {
    loader: 'ts',
    format: 'esm',
    target: 'es2022',
    legalComments: 'inline',
    sourcefile: GENERATED_FILE,
  })
  const javascript = `${transpiled.code.trimEnd()}\n//# sourceMappingURL=${SOURCE_MAP_FILE}\n`
  const starts = lineStarts(sourceText)
  const sourceMap = buildSourceMap(
    javascript,
    MODULE_FILE,
    module.sites,
    starts,
    basename(input.sourceFile),
    sourceText,
  )

  const files = new Map<string, string>([
    [GENERATED_FILE, module.typescript],
    [MODULE_FILE, javascript],
    [SOURCE_MAP_FILE, `${JSON.stringify(sourceMap)}\n`],
  ])
  // The content hash covers every file, so a changed function gives a new artifact id.
  if (input.udfBundle) files.set(UDF_BUNDLE_FILE, input.udfBundle)
  const sources = pipeline.nodes.filter((n): n is SourceNode => n.kind === 'Source')
  const sinks = pipeline.nodes.filter((n): n is SinkNode => n.kind === 'Sink')
  const unhashed: Omit<Manifest, 'contentHash'> = {
    format: ARTIFACT_FORMAT,
    formatVersion: ARTIFACT_FORMAT_VERSION,
    name: input.name,
    compiler: { name: 'sluice', version: input.compilerVersion },
    irVersion: pipeline.irVersion,
    source: { file: input.sourceFile, sha256: sha256(sourceText) },
    files: {
      module: MODULE_FILE,
      typescript: GENERATED_FILE,
      sourceMap: SOURCE_MAP_FILE,
      ...(input.udfBundle ? { udfs: UDF_BUNDLE_FILE } : {}),
    },
    inputs: sources.map((s) => ({
      source: s.name,
      connector: s.connector,
      schema: s.schema,
      eventTimeField: s.eventTimeField,
      watermark: s.watermark,
    })),
    outputs: sinks.map((s) => ({
      sink: s.id,
      name: s.name,
      connector: s.connector,
      recordTimestamp: s.recordTimestamp,
      schema: s.schema,
    })),
    schemas: pipeline.schemas,
    graph: pipeline,
    sites: module.sites.map((span) => {
      const start = lineColumnOf(starts, span.start)
      const end = lineColumnOf(starts, span.end)
      return {
        file: span.file,
        line: start.line,
        column: start.column,
        endLine: end.line,
        endColumn: end.column,
      }
    }),
    wasm: [...(input.kernels ?? [])].map(([name, bytes]) => ({
      name,
      file: `${name}.wasm`,
      sha256: sha256(bytes),
    })),
  }
  const binaryFiles = new Map<string, Uint8Array>()
  for (const [name, bytes] of input.kernels ?? []) binaryFiles.set(`${name}.wasm`, bytes)
  // Encoded once; the hash is over the encoding, as the runtime reads it back from the file.
  const encoded = encodeManifestTypes(unhashed)
  const hash = contentHash(encoded, new Map<string, string | Uint8Array>([...files, ...binaryFiles]))
  const manifest: Manifest = { ...unhashed, contentHash: hash }
  files.set(MANIFEST_FILE, formatManifestJson({ ...encoded, contentHash: hash }))
  return { manifest, files, binaryFiles }
}

/**
 * `sha256:` + hex SHA-256 of the canonical JSON of `{ manifest (as written, without contentHash), files:
 * { name: sha256(content) } sorted by name }`. runtime/artifact/load.ts recomputes it the same way.
 */
export function contentHash(manifest: object, files: ReadonlyMap<string, string | Uint8Array>): string {
  const fileHashes = [...files.entries()]
    .filter(([name]) => name !== MANIFEST_FILE)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, content]) => [name, sha256(content)])
  return `sha256:${sha256(JSON.stringify({ manifest, files: Object.fromEntries(fileHashes) }))}`
}

function sha256(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex')
}

/** `writeArtifact` refused the output directory: the message says why and what to do instead. */
export class ArtifactOutputError extends Error {
  override name = 'ArtifactOutputError'
}

export interface WriteArtifactOptions {
  /**
   * The .pipe file, as a path; no directory containing it is replaced. The manifest names it by
   * base name only (so the artifact id does not depend on the path), so it cannot stand in.
   */
  readonly sourceFile?: string
  /** Relative paths resolve against this; it and its ancestors are never replaced (default: process.cwd()). */
  readonly cwd?: string
  /** Replace an earlier artifact of another pipeline too (default: only one of the same name). */
  readonly replaceOtherPipeline?: boolean
}

/**
 * Writes the artifact to `dir` via a sibling temporary directory and a rename, so a reader never
 * sees a half-written artifact. `dir` is replaced only when that cannot lose anything but an
 * earlier artifact: it must not exist, be empty, or hold a manifest.json of format
 * "sluice-artifact"; and it must be neither the working directory (nor one of its ancestors) nor
 * an ancestor of the .pipe file. Otherwise this throws ArtifactOutputError and touches nothing.
 */
export async function writeArtifact(
  artifact: Artifact,
  dir: string,
  options: WriteArtifactOptions = {},
): Promise<void> {
  const cwd = resolve(options.cwd ?? process.cwd())
  const target = resolve(cwd, dir)
  await checkReplaceable(
    target,
    dir,
    cwd,
    options.sourceFile === undefined ? null : resolve(cwd, options.sourceFile),
    options.replaceOtherPipeline === true ? null : artifact.manifest.name,
  )
  const staging = join(dirname(target), `.${basename(target)}.tmp-${process.pid}`)
  await rm(staging, { recursive: true, force: true })
  try {
    await mkdir(staging, { recursive: true })
    for (const [name, content] of artifact.files) await writeFile(join(staging, name), content)
    for (const [name, content] of artifact.binaryFiles) await writeFile(join(staging, name), content)
    await rm(target, { recursive: true, force: true })
    await rename(staging, target)
  } catch (error) {
    await rm(staging, { recursive: true, force: true }).catch(() => {})
    throw error
  }
}

const CHOOSE_ANOTHER = 'choose a new or empty directory for the artifact (or an earlier artifact to replace)'

async function checkReplaceable(
  target: string,
  shown: string,
  cwd: string,
  sourceFile: string | null,
  /** The pipeline an existing artifact must belong to; null: any. */
  pipeline: string | null,
): Promise<void> {
  const refuse = (why: string) =>
    new ArtifactOutputError(`refusing to replace ${shown}: ${why}; ${CHOOSE_ANOTHER}`)
  const real = await canonicalPath(target)
  const workingDir = await canonicalPath(cwd)
  if (containsOrIs(real, workingDir)) {
    throw refuse(real === workingDir ? 'it is the current directory' : 'it contains the current directory')
  }
  if (sourceFile !== null && containsOrIs(real, await canonicalPath(sourceFile))) {
    throw refuse(`it contains the source file ${sourceFile}`)
  }

  let entries: string[]
  try {
    if (!(await lstat(target)).isDirectory())
      throw refuse('it exists and is not a directory (a file or a symbolic link)')
    entries = await readdir(target)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
    throw error
  }
  if (entries.length === 0) return
  const existing = await readFile(join(target, MANIFEST_FILE), 'utf8')
    .then(
      (text) => JSON.parse(text) as { format?: unknown; name?: unknown; source?: { file?: unknown } } | null,
      () => null,
    )
    .catch(() => null)
  if (existing?.format !== ARTIFACT_FORMAT) {
    throw refuse(
      `it is not empty and is not a Sluice artifact (no ${MANIFEST_FILE} with "format": "${ARTIFACT_FORMAT}")`,
    )
  }
  if (pipeline !== null && existing.name !== pipeline) {
    // Two pipelines compiled to one directory by mistake: the earlier one would be gone.
    const from = typeof existing.source?.file === 'string' ? `, compiled from ${existing.source.file}` : ''
    throw new ArtifactOutputError(
      `refusing to replace ${shown}: it holds the artifact of pipeline \`${String(existing.name)}\`${from}, not \`${pipeline}\`; pass --replace to replace it, or choose another directory`,
    )
  }
}

/** The real path of `path`'s longest existing prefix (symlinks resolved), followed by the rest. */
async function canonicalPath(path: string): Promise<string> {
  const rest: string[] = []
  let head = path
  for (;;) {
    try {
      return join(await realpath(head), ...rest)
    } catch (error) {
      const parent = dirname(head)
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || parent === head) return path
      rest.unshift(basename(head))
      head = parent
    }
  }
}

/** Whether `ancestor` is `path` or one of the directories above it (both absolute). */
function containsOrIs(ancestor: string, path: string): boolean {
  const rel = relative(ancestor, path)
  return rel === '' || !(rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel))
}
