/**
 * The native clean-up hook that lets a gateway worker thread be stopped from outside without
 * aborting the process (native/socket-teardown.c says why it is needed and what it does; decision
 * 0030, addendum "stopped from outside").
 *
 * It is compiled here, on first use, with the machine's C compiler against the headers of the Node
 * that runs (Node-API: no node-gyp, no download), into .cache/native/ under a name that holds the
 * hash of the source, the Node ABI and the platform, so a later start reuses it. Without a compiler
 * or headers the gateway still runs; only a worker stopped from outside then aborts the process as
 * before, and the pool says so in its log.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { access, mkdir, readFile, rename, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const SOURCE = fileURLToPath(new URL('./native/socket-teardown.c', import.meta.url))
const CACHE_DIR = fileURLToPath(new URL('../../.cache/native/', import.meta.url))

/** The built hook's path, or why there is none. */
export type SocketTeardown = { readonly path: string } | { readonly unavailable: string }

let built: Promise<SocketTeardown> | undefined

/** Builds the hook once per process (a cached build returns at once). Never rejects. */
export function socketTeardown(): Promise<SocketTeardown> {
  built ??= buildSocketTeardown().catch((error: unknown) => ({
    unavailable: error instanceof Error ? error.message : String(error),
  }))
  return built
}

async function buildSocketTeardown(): Promise<SocketTeardown> {
  const source = await readFile(SOURCE)
  const key = createHash('sha256')
    .update(source)
    .update(`${process.platform}-${process.arch}-${process.versions.modules}`)
    .digest('hex')
    .slice(0, 16)
  const out = join(CACHE_DIR, `socket-teardown-${key}.node`)
  if (await exists(out)) return { path: out }
  const include = join(dirname(dirname(process.execPath)), 'include', 'node')
  if (!(await exists(join(include, 'node_api.h'))))
    return { unavailable: `no Node headers at ${include} (node_api.h)` }
  await mkdir(CACHE_DIR, { recursive: true })
  // Built under a name of its own and renamed: processes starting together never load half a file.
  const staging = `${out}.${process.pid}.tmp`
  const compiler = process.env.CC ?? 'cc'
  try {
    await promisify(execFile)(compiler, ['-O2', '-shared', '-fPIC', `-I${include}`, '-o', staging, SOURCE], {
      timeout: 60_000,
    })
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
