/**
 * Loads an artifact directory: reads and validates the manifest, recomputes the content hash over
 * the files (any edit after compilation is refused), imports the generated module and
 * instantiates it with the stdlib. The module is imported by a content-addressed URL query, so
 * loading a new version of an artifact in a running process never returns a cached old module.
 */
import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { EvaluationError } from '../../stdlib/eval-error.ts'
import { stdlib } from '../../stdlib/index.ts'
import { bindUdfs } from '../../stdlib/udf.ts'
import { SluiceError } from '../errors.ts'
import { type RuntimeManifest, validateManifest } from './manifest.ts'
import type { OperatorModule, Operators } from './operators.ts'

export interface LoadedArtifact {
  readonly dir: string
  readonly manifest: RuntimeManifest
  readonly operators: Operators
  /** The WebAssembly kernels the artifact ships (manifest `wasm`), by name. */
  readonly wasm: ReadonlyMap<string, Uint8Array>
}

const MANIFEST_FILE = 'manifest.json'

export async function loadArtifact(dir: string): Promise<LoadedArtifact> {
  const root = resolve(dir)
  let names: string[]
  try {
    names = (await readdir(root)).filter((name) => !name.startsWith('.'))
  } catch (cause) {
    throw new SluiceError(
      'ARTIFACT_NOT_FOUND',
      `no artifact at ${dir} (compile one with \`sluice compile\`)`,
      { cause },
    )
  }
  if (!names.includes(MANIFEST_FILE)) {
    throw new SluiceError('ARTIFACT_NOT_FOUND', `${dir} has no ${MANIFEST_FILE}: not an artifact directory`)
  }
  // As bytes: hashes are over the bytes (text files hash as their UTF-8), and kernels are binary.
  const files = new Map<string, Buffer>()
  for (const name of names) files.set(name, await readFile(join(root, name)))

  let parsed: unknown
  try {
    parsed = JSON.parse(files.get(MANIFEST_FILE)!.toString('utf8'))
  } catch (cause) {
    throw new SluiceError('ARTIFACT_INVALID', `${join(dir, MANIFEST_FILE)} is not valid JSON`, { cause })
  }
  const manifest = validateManifest(parsed, join(dir, MANIFEST_FILE))
  const actual = contentHash(parsed as Record<string, unknown>, files)
  if (actual !== manifest.contentHash) {
    throw new SluiceError(
      'ARTIFACT_HASH_MISMATCH',
      `${dir}: content hash is ${actual} but the manifest says ${manifest.contentHash}; the artifact was modified after compilation`,
    )
  }
  const moduleUrl = `${pathToFileURL(join(root, manifest.files.module)).href}?hash=${manifest.contentHash.slice(7, 23)}`
  const module = (await import(moduleUrl)) as OperatorModule
  if (module.IR_VERSION !== manifest.irVersion) {
    throw new SluiceError(
      'ARTIFACT_INVALID',
      `${dir}: module IR version ${module.IR_VERSION} differs from the manifest's`,
    )
  }
  const operators = module.instantiate({ stdlib: await withUdfs(root, manifest), EvaluationError })
  const wasm = new Map<string, Uint8Array>()
  for (const kernel of manifest.wasm ?? []) {
    const bytes = files.get(kernel.file)
    if (bytes === undefined || sha256(bytes) !== kernel.sha256) {
      throw new SluiceError(
        'ARTIFACT_INVALID',
        `${dir}: the WebAssembly kernel ${kernel.name} (${kernel.file}) is missing or does not match its sha256`,
      )
    }
    wasm.set(kernel.name, bytes)
  }
  return { dir: root, manifest, operators, wasm }
}

/**
 * The stdlib plus the artifact's imported functions, bound from its bundle (imported by a
 * content-addressed URL like the module, so a new artifact's functions replace the old ones').
 */
async function withUdfs(
  root: string,
  manifest: RuntimeManifest,
): Promise<Readonly<Record<string, { readonly impl: (...args: never[]) => unknown }>>> {
  const file = manifest.files.udfs
  if (file === undefined) return stdlib
  const url = `${pathToFileURL(join(root, file)).href}?hash=${manifest.contentHash.slice(7, 23)}`
  const bundle = (await import(url)) as Record<string, unknown>
  return { ...stdlib, ...bindUdfs(bundle, Object.values(manifest.graph.udfs ?? {})) }
}

/** The compiler's content hash (compiler/artifact/package.ts `contentHash`), recomputed independently. */
function contentHash(manifest: Record<string, unknown>, files: ReadonlyMap<string, Buffer>): string {
  const { contentHash: _ignored, ...unhashed } = manifest
  const fileHashes = [...files.entries()]
    .filter(([name]) => name !== MANIFEST_FILE)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, content]) => [name, sha256(content)])
  return `sha256:${sha256(JSON.stringify({ manifest: unhashed, files: Object.fromEntries(fileHashes) }))}`
}

function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex')
}
