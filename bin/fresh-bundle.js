/**
 * Whether the precompiled CLI (scripts/build-cli.mjs) was built from the sources as they are now.
 * Plain JavaScript: it runs before any TypeScript loader. A stale bundle would silently run old
 * code, so anything short of "every source it was built from is unchanged" means stale.
 */
import { readFileSync, statSync } from 'node:fs'

/** Must equal STAMP_VERSION in scripts/build-cli.mjs. */
const STAMP_VERSION = 1

/**
 * The bundle's entry module under `bundleDir` (a directory URL ending in /) of the tree at `root`,
 * or why it cannot be used. A source whose mtime and size are as recorded is unchanged (a stat
 * each, about 1 ms for the CLI's ~100 files); any other is hashed, so a file touched or checked
 * out again with the same bytes does not make the bundle stale.
 * @param {URL} root
 * @param {URL} bundleDir
 * @returns {Promise<{ entry: URL } | { stale: string }>}
 */
export async function freshBundle(root, bundleDir) {
  let stamp
  try {
    stamp = JSON.parse(readFileSync(new URL('stamp.json', bundleDir), 'utf8'))
  } catch (error) {
    return {
      stale: error.code === 'ENOENT' ? 'no bundle (npm run build:cli)' : `unreadable stamp: ${error.message}`,
    }
  }
  if (stamp?.version !== STAMP_VERSION || typeof stamp.entry !== 'string' || typeof stamp.inputs !== 'object')
    return { stale: 'stamp of another build-cli version' }
  for (const [path, recorded] of Object.entries(stamp.inputs)) {
    const file = new URL(path, root)
    let stat
    try {
      stat = statSync(file)
    } catch {
      return { stale: `${path} is gone` }
    }
    if (stat.mtimeMs === recorded.mtimeMs && stat.size === recorded.size) continue
    if (stat.size !== recorded.size || (await sha256(readFileSync(file))) !== recorded.sha256)
      return { stale: `${path} changed since the build` }
  }
  return { entry: new URL(stamp.entry, bundleDir) }
}

/** node:crypto is imported only here: loading it takes about 6 ms, a twentieth of a fresh start. */
async function sha256(bytes) {
  const { createHash } = await import('node:crypto')
  return createHash('sha256').update(bytes).digest('hex')
}
