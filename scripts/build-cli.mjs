/**
 * Bundles the CLI (cli/main.ts and everything of ours it imports) into precompiled JavaScript
 * under dist/.sluice-cli/, so `sluice` starts without transpiling TypeScript. bin/sluice.js runs
 * the bundle only while the stamp written here matches the sources (bin/fresh-bundle.js); why and
 * what it costs: docs/decisions/0017-precompiled-cli.md.
 *
 *   node scripts/build-cli.mjs          (npm run build:cli; npm ci runs it as `prepare`)
 */
import { createHash } from 'node:crypto'
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs'
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { dirname, extname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { build } from 'esbuild'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
/** Where bin/sluice.js looks; hidden so it cannot meet an artifact `sluice compile` puts in dist/<name>. */
export const BUNDLE_DIR = join('dist', '.sluice-cli')
export const STAMP_FILE = 'stamp.json'
/** Bumped when the stamp's shape changes; bin/fresh-bundle.js treats any other version as stale. */
export const STAMP_VERSION = 1

const LOADERS = { '.ts': 'ts', '.mts': 'ts', '.js': 'js', '.mjs': 'js', '.json': 'json' }
const IMPORT_META = /\bimport\.meta\.(url|dirname|filename)\b/g

/**
 * Builds the bundle of `root` into `root/dist/.sluice-cli` (or `outDir`) and returns its stamp.
 * Files of the previous build stay until the next one, so a process that started on them can
 * still import the command chunk it loads lazily; older files are removed.
 */
export async function buildCli({ root = ROOT, outDir = join(root, BUNDLE_DIR) } = {}) {
  const inputs = {}
  const staging = `${outDir}.staging-${process.pid}`
  await rm(staging, { recursive: true, force: true })
  try {
    const result = await build({
      absWorkingDir: root,
      entryPoints: ['cli/main.ts'],
      bundle: true,
      // Dynamic imports (the command registry's load()) become chunks loaded when called.
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      // Dependencies stay in node_modules and load at run time, each only with the chunk that needs it.
      packages: 'external',
      outdir: staging,
      entryNames: '[name]-[hash]',
      // .mjs: ESM by its name, so Node does not look for a package.json "type" for each chunk.
      outExtension: { '.js': '.mjs' },
      chunkNames: 'chunk-[hash]',
      // Read only when asked for (SLUICE_DEBUG turns source maps on in bin/sluice.js).
      sourcemap: 'linked',
      sourcesContent: false,
      metafile: true,
      logLevel: 'warning',
      plugins: [sourcesAsTheyWere(root, outDir, inputs)],
    })
    const entry = Object.entries(result.metafile.outputs).find(([, out]) => out.entryPoint === 'cli/main.ts')
    if (!entry) throw new Error('esbuild wrote no output for cli/main.ts')
    const files = await readdir(staging)
    // The builder is an input too: a bundle made by an older build script is stale.
    const self = fileURLToPath(import.meta.url)
    inputs[relative(root, self).split(sep).join('/')] = fingerprint(self)
    const stamp = {
      version: STAMP_VERSION,
      entry: relative(staging, resolve(root, entry[0])).split(sep).join('/'),
      files,
      inputs,
    }
    await publish(staging, outDir, stamp)
    return stamp
  } finally {
    await rm(staging, { recursive: true, force: true })
  }
}

/**
 * An esbuild plugin that loads our own files, recording each one's fingerprint, and makes
 * `import.meta.url` (and dirname, filename) name the source file, not the chunk it lands in:
 * package.json, wasm/dist and the like are found relative to the source tree.
 */
function sourcesAsTheyWere(root, outDir, inputs) {
  return {
    name: 'sluice-sources-as-they-were',
    setup(b) {
      b.onLoad({ filter: /\.(m?ts|m?js|json)$/ }, (args) => {
        if (args.path.split(sep).includes('node_modules')) return undefined
        const loader = LOADERS[extname(args.path)]
        if (!loader) return undefined
        // The fingerprint is of the bytes esbuild compiles: stat, then read through the same
        // descriptor. An edit after this changes the file's mtime, so the bundle shows as stale.
        const { text, print } = readWithFingerprint(args.path)
        inputs[relative(root, args.path).split(sep).join('/')] = print
        return { contents: rewriteImportMeta(text, relative(outDir, args.path)), loader }
      })
    },
  }
}

/** `import.meta.url` → the source file's URL, relative to the chunk so the tree may move. */
export function rewriteImportMeta(text, fromOutDir) {
  const rel = JSON.stringify(fromOutDir.split(sep).join('/'))
  let needsPath = false
  const rewritten = text.replace(IMPORT_META, (_, what) => {
    const url = `new URL(${rel}, import.meta.url)`
    if (what === 'url') return `${url}.href`
    needsPath = true
    const file = `__sluiceFileURLToPath(${url})`
    return what === 'filename' ? file : `__sluiceDirname(${file})`
  })
  // On the first line, so line numbers (and the source map) stay those of the source.
  return needsPath
    ? `import { fileURLToPath as __sluiceFileURLToPath } from 'node:url'; import { dirname as __sluiceDirname } from 'node:path'; ${rewritten}`
    : rewritten
}

function readWithFingerprint(path) {
  const fd = openSync(path, 'r')
  try {
    const stat = fstatSync(fd)
    const bytes = readFileSync(fd)
    return {
      text: bytes.toString('utf8'),
      print: { mtimeMs: stat.mtimeMs, size: stat.size, sha256: sha256(bytes) },
    }
  } finally {
    closeSync(fd)
  }
}

function fingerprint(path) {
  return readWithFingerprint(path).print
}

export function sha256(bytes) {
  return createHash('sha256').update(bytes).digest('hex')
}

/**
 * Moves the new files in beside the current ones, then replaces the stamp in one rename: a process
 * reading the stamp sees the old build or the new one, never half of one. Then removes the files
 * no build may still need: not of this build, the one it replaced or whichever is current now (a
 * concurrent build may have published since), and older than a minute (a concurrent build's
 * files before its stamp is written). A process imports its command chunk within milliseconds of
 * reading the stamp, so the replaced build's files are kept for it until the build after next.
 */
async function publish(staging, outDir, stamp) {
  await mkdir(outDir, { recursive: true })
  const previous = await readStamp(outDir)
  for (const file of stamp.files) await rename(join(staging, file), join(outDir, file))
  const temporary = join(outDir, `${STAMP_FILE}.${process.pid}`)
  await writeFile(temporary, `${JSON.stringify(stamp, null, 2)}\n`)
  await rename(temporary, join(outDir, STAMP_FILE))
  const current = await readStamp(outDir)
  const keep = new Set([STAMP_FILE, ...stamp.files, ...(previous?.files ?? []), ...(current?.files ?? [])])
  const cutoff = Date.now() - 60_000
  for (const file of await readdir(outDir)) {
    if (keep.has(file) || file.startsWith(`${STAMP_FILE}.`)) continue
    const path = join(outDir, file)
    const modified = await stat(path).then(
      (s) => s.mtimeMs,
      () => Date.now(),
    )
    if (modified < cutoff) await rm(path, { force: true })
  }
}

async function readStamp(outDir) {
  try {
    const stamp = JSON.parse(await readFile(join(outDir, STAMP_FILE), 'utf8'))
    return Array.isArray(stamp?.files) ? stamp : undefined
  } catch {
    return undefined
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const started = performance.now()
  const stamp = await buildCli()
  const ms = Math.round(performance.now() - started)
  console.log(
    `sluice CLI bundle: ${join(BUNDLE_DIR, stamp.entry)} from ${Object.keys(stamp.inputs).length} sources in ${ms} ms`,
  )
}
