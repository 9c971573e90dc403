/**
 * Builds the AssemblyScript kernels in `wasm/kernels/` into WebAssembly.
 *
 *   node --import tsx wasm/build.ts            # every kernel → wasm/dist/<kernel>.wasm + .json
 *   node --import tsx wasm/build.ts --force    # ignore the cache
 *   node --import tsx wasm/build.ts aggregate  # only the named kernels
 *
 * Every kernel is compiled with `-O3 --runtime stub --noAssert`: no garbage collector and no
 * allocator in the module (data lives in linear memory that the host lays out and passes as
 * pointer + length), and the only import is `env.abort`.
 *
 * Next to each `<kernel>.wasm` goes `<kernel>.json`: the hash of everything that went into the build
 * (`inputHash`: sources, compiler version, flags) and the hash of the output (`wasmHash`, the
 * content hash an artifact manifest records). A build whose `inputHash` matches and whose wasm
 * still hashes to `wasmHash` is reused, so tests can call `buildKernel` freely.
 *
 * Progress goes to stderr, one line per kernel; on a compile error the command prints asc's
 * diagnostics and exits with status 1.
 */

import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { basename, dirname, extname, join, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import asc from 'assemblyscript/asc'

const WASM_DIR = dirname(fileURLToPath(import.meta.url))

/** Where the kernel sources live. */
export const KERNELS_DIR = join(WASM_DIR, 'kernels')
/** Where built kernels go by default (gitignored). */
export const DIST_DIR = join(WASM_DIR, 'dist')

/** The compiler flags every kernel is built with. */
export const KERNEL_FLAGS: readonly string[] = ['-O3', '--runtime', 'stub', '--noAssert']

/** The sidecar written next to each `<kernel>.wasm`. */
export interface KernelManifest {
  readonly kernel: string
  /** The entry source, relative to the repository root when inside it. */
  readonly source: string
  /** sha256 over the sources (entry and relative imports), compiler version and flags. */
  readonly inputHash: string
  /** sha256 of the `.wasm` bytes: the kernel's content hash. */
  readonly wasmHash: string
  readonly bytes: number
  readonly compiler: string
  readonly flags: readonly string[]
}

export interface BuiltKernel {
  readonly kernel: string
  readonly wasmPath: string
  readonly manifestPath: string
  readonly manifest: KernelManifest
  /** False when an up-to-date build was reused. */
  readonly rebuilt: boolean
}

export class KernelBuildError extends Error {
  readonly diagnostics: string

  constructor(sourcePath: string, diagnostics: string, cause?: unknown) {
    super(`failed to compile ${sourcePath}:\n${diagnostics}`, cause === undefined ? undefined : { cause })
    this.name = 'KernelBuildError'
    this.diagnostics = diagnostics
  }
}

const sha256 = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex')

/** Relative imports (`import … from './x'`, `export … from './x'`, `import './x'`) of an AssemblyScript source. */
function relativeImports(text: string): string[] {
  const specifiers: string[] = []
  const pattern = /(?:\bfrom\s+|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g
  for (const match of text.matchAll(pattern)) specifiers.push(match[1]!)
  return specifiers
}

/** The entry source and every source it reaches through relative imports, sorted by path. */
async function collectSources(entryPath: string): Promise<Map<string, string>> {
  const sources = new Map<string, string>()
  const pending = [resolve(entryPath)]
  while (pending.length > 0) {
    const path = pending.pop()!
    if (sources.has(path)) continue
    const text = await readFile(path, 'utf8')
    sources.set(path, text)
    for (const specifier of relativeImports(text)) {
      const target = resolve(dirname(path), specifier)
      pending.push(extname(target) === '.ts' ? target : `${target}.ts`)
    }
  }
  return new Map([...sources.entries()].sort(([a], [b]) => a.localeCompare(b)))
}

function inputHashOf(sources: Map<string, string>, entryPath: string): string {
  const hash = createHash('sha256')
  hash.update(`assemblyscript ${asc.version}\0${KERNEL_FLAGS.join(' ')}\0`)
  const root = dirname(resolve(entryPath))
  for (const [path, text] of sources) hash.update(`${relative(root, path)}\0${sha256(text)}\0`)
  return hash.digest('hex')
}

async function readManifest(path: string): Promise<KernelManifest | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as KernelManifest
  } catch {
    return null
  }
}

async function isUpToDate(
  wasmPath: string,
  manifest: KernelManifest | null,
  inputHash: string,
): Promise<boolean> {
  if (manifest === null || manifest.inputHash !== inputHash) return false
  try {
    return sha256(await readFile(wasmPath)) === manifest.wasmHash
  } catch {
    return false
  }
}

/** Writes through a temporary file and a rename, so a concurrent reader never sees half a file. */
async function writeAtomically(path: string, data: string | Uint8Array): Promise<void> {
  const temporary = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
  try {
    await writeFile(temporary, data)
    await rename(temporary, path)
  } catch (error) {
    await rm(temporary, { force: true })
    throw error
  }
}

/** Compiles one AssemblyScript source to wasm bytes, or throws KernelBuildError with asc's diagnostics. */
export async function compileKernelSource(sourcePath: string): Promise<Uint8Array> {
  const absolute = resolve(sourcePath)
  const outName = `${basename(absolute, extname(absolute))}.wasm`
  let binary: Uint8Array | null = null
  const diagnostics: string[] = []
  const stream = {
    write(chunk: Uint8Array | string) {
      diagnostics.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'))
    },
  }
  let result: Awaited<ReturnType<typeof asc.main>>
  try {
    result = await asc.main(
      // Paths relative to the working directory, so diagnostics name the file as the user sees it.
      [relative(process.cwd(), absolute), ...KERNEL_FLAGS, '--outFile', outName, '--noColors'],
      {
        stdout: stream,
        stderr: stream,
        writeFile: (name, contents) => {
          if (name === outName && typeof contents !== 'string') binary = contents
        },
      },
    )
  } catch (error) {
    throw new KernelBuildError(sourcePath, diagnostics.join('') || String(error), error)
  }
  if (result.error !== null)
    throw new KernelBuildError(sourcePath, diagnostics.join('') || result.error.message)
  if (binary === null) throw new KernelBuildError(sourcePath, `asc produced no ${outName}`)
  return binary
}

/**
 * Builds `sourcePath` into `outPath` (default `wasm/dist/<kernel>.wasm`) plus the `.json` sidecar,
 * reusing an existing build whose input hash matches. Safe to call concurrently from several
 * processes (outputs are replaced atomically).
 */
export async function buildKernel(sourcePath: string, outPath?: string): Promise<BuiltKernel> {
  const kernel = basename(sourcePath, extname(sourcePath))
  const wasmPath = resolve(outPath ?? join(DIST_DIR, `${kernel}.wasm`))
  const manifestPath = wasmPath.replace(/\.wasm$/, '') + '.json'
  const sources = await collectSources(sourcePath)
  const inputHash = inputHashOf(sources, sourcePath)

  const existing = await readManifest(manifestPath)
  if (existing !== null && (await isUpToDate(wasmPath, existing, inputHash))) {
    return { kernel, wasmPath, manifestPath, manifest: existing, rebuilt: false }
  }

  const binary = await compileKernelSource(sourcePath)
  const repoRoot = dirname(WASM_DIR)
  const absoluteSource = resolve(sourcePath)
  const manifest: KernelManifest = {
    kernel,
    source: absoluteSource.startsWith(repoRoot) ? relative(repoRoot, absoluteSource) : absoluteSource,
    inputHash,
    wasmHash: sha256(binary),
    bytes: binary.byteLength,
    compiler: `assemblyscript ${asc.version}`,
    flags: KERNEL_FLAGS,
  }
  await mkdir(dirname(wasmPath), { recursive: true })
  await writeAtomically(wasmPath, binary)
  await writeAtomically(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`)
  return { kernel, wasmPath, manifestPath, manifest, rebuilt: true }
}

/** The kernel entry sources: every `.ts` file directly in `wasm/kernels/` (subfolders hold shared code). */
export async function listKernels(dir = KERNELS_DIR): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true })
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
    .map((entry) => join(dir, entry.name))
    .sort()
}

/** The command line: builds every kernel (or the named ones), `--force` ignores the cache. */
export async function main(argv: readonly string[]): Promise<number> {
  const force = argv.includes('--force')
  const names = argv.filter((arg) => !arg.startsWith('--'))
  let kernels = await listKernels()
  if (names.length > 0) {
    const unknown = names.filter((name) => !kernels.some((path) => basename(path, '.ts') === name))
    if (unknown.length > 0) {
      process.stderr.write(
        `unknown kernel(s): ${unknown.join(', ')} (in ${relative(process.cwd(), KERNELS_DIR)})\n`,
      )
      return 2
    }
    kernels = kernels.filter((path) => names.includes(basename(path, '.ts')))
  }
  if (force) await rm(DIST_DIR, { recursive: true, force: true })

  let failed = 0
  for (const [i, sourcePath] of kernels.entries()) {
    const name = basename(sourcePath, '.ts')
    const prefix = `[${i + 1}/${kernels.length}] ${name}`
    const tty = process.stderr.isTTY === true
    if (tty) process.stderr.write(`${prefix} …`)
    const started = process.hrtime.bigint()
    try {
      const built = await buildKernel(sourcePath)
      const ms = Number(process.hrtime.bigint() - started) / 1e6
      const what = built.rebuilt ? `built in ${ms.toFixed(0)} ms` : 'up to date'
      process.stderr.write(
        `${tty ? '\r' : ''}${prefix}: ${what}, ${built.manifest.bytes} bytes, sha256 ${built.manifest.wasmHash.slice(0, 12)} → ${relative(process.cwd(), built.wasmPath)}\n`,
      )
    } catch (error) {
      failed++
      process.stderr.write(`${tty ? '\r' : ''}${prefix}: FAILED\n`)
      process.stderr.write(
        error instanceof KernelBuildError ? `${error.diagnostics}\n` : `${String(error)}\n`,
      )
    }
  }
  if (failed > 0) process.stderr.write(`${failed} of ${kernels.length} kernel(s) failed to build\n`)
  return failed > 0 ? 1 : 0
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
      process.exitCode = 1
    },
  )
}
