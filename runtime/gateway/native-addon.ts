/**
 * The gateway's native add-ons (native/*.c, Node-API; native/*.cc, Node's and V8's C++ API): compiled
 * on first use with the machine's compiler (`$CC`, else `cc`; for C++ `$CXX`, else `c++`) against
 * the headers of the Node that runs (no node-gyp, no download), into .cache/native/ under a name that holds the hash of the source, the Node ABI and
 * the platform, so a later start reuses it (about 0.3 s once). Without a compiler or headers the
 * gateway still runs; what an add-on makes safe is then not done, and its user says so in its log.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { access, mkdir, readFile, rename, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const CACHE_DIR = fileURLToPath(new URL('../../.cache/native/', import.meta.url))

/** A built add-on's path, or why there is none. */
export type NativeAddon = { readonly path: string } | { readonly unavailable: string }

const built = new Map<string, Promise<NativeAddon>>()

/** Builds native/<file> (`name.c` or `name.cc`) once per process (a cached build returns at once). Never rejects. */
export function nativeAddon(file: string): Promise<NativeAddon> {
  let addon = built.get(file)
  if (addon === undefined) {
    addon = buildAddon(file).catch((error: unknown) => ({
      unavailable: error instanceof Error ? error.message : String(error),
    }))
    built.set(file, addon)
  }
  return addon
}

async function buildAddon(file: string): Promise<NativeAddon> {
  const cxx = file.endsWith('.cc')
  const name = file.replace(/\.cc?$/, '')
  const sourcePath = fileURLToPath(new URL(`./native/${file}`, import.meta.url))
  const source = await readFile(sourcePath)
  const key = createHash('sha256')
    .update(source)
    .update(`${process.platform}-${process.arch}-${process.versions.modules}`)
    .digest('hex')
    .slice(0, 16)
  const out = join(CACHE_DIR, `${name}-${key}.node`)
  if (await exists(out)) return { path: out }
  const include = join(dirname(dirname(process.execPath)), 'include', 'node')
  if (!(await exists(join(include, 'node_api.h'))))
    return { unavailable: `no Node headers at ${include} (node_api.h)` }
  await mkdir(CACHE_DIR, { recursive: true })
  // Built under a name of its own and renamed: processes starting together never load half a file.
  const staging = `${out}.${process.pid}.tmp`
  const compiler = (cxx ? process.env.CXX : process.env.CC) ?? (cxx ? 'c++' : 'cc')
  const flags = cxx ? ['-std=c++17'] : []
  try {
    await promisify(execFile)(
      compiler,
      [...flags, '-O2', '-shared', '-fPIC', `-I${include}`, '-o', staging, sourcePath],
      {
        timeout: 60_000,
      },
    )
    await rename(staging, out)
  } catch (error) {
    await rm(staging, { force: true })
    const stderr = (error as { stderr?: string }).stderr?.trim()
    return { unavailable: `${compiler} failed: ${stderr || (error as Error).message}` }
  }
  return { path: out }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}
