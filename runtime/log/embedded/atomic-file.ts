import { randomBytes } from 'node:crypto'
import { open, rename, unlink } from 'node:fs/promises'
import path from 'node:path'
import { syncDir } from './fs-util.ts'
import { withFile } from './io-errors.ts'

/**
 * Replaces `file` with `content` so that a crash leaves the old or the new content, never a mix:
 * write a temp file, fsync it, rename it over, fsync the directory. Failures name the file
 * (LOG_DISK_FULL / LOG_IO).
 */
export async function writeFileAtomic(file: string, content: string | Buffer, fsync: boolean): Promise<void> {
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  await withFile(file, 'writing', async () => {
    try {
      const fh = await open(temp, 'w')
      try {
        await fh.writeFile(content)
        if (fsync) await fh.sync()
      } finally {
        await fh.close()
      }
      await rename(temp, file)
    } catch (error) {
      await unlink(temp).catch(() => {})
      throw error
    }
    if (fsync) await syncDir(path.dirname(file))
  })
}

/**
 * Writes `content` to a new file next to `file` named `<file>.<suffix>` (adding a counter if that
 * name is taken), synced; returns its path. Used to keep damaged bytes instead of deleting them.
 */
export async function writeNewFile(file: string, suffix: string, content: Buffer): Promise<string> {
  for (let n = 0; ; n++) {
    const target = n === 0 ? `${file}.${suffix}` : `${file}.${suffix}.${n}`
    try {
      await writeSynced(target, content, 'wx')
      return target
    } catch (error) {
      if (isEexist(error) && n < 1000) continue
      throw error
    }
  }
}

/**
 * Writes `content` to `target` (opened with `flags`: 'w' replaces, 'wx' only creates) and makes
 * the file and its directory entry durable before resolving. Failures name the file.
 */
export async function writeSynced(target: string, content: Buffer, flags: 'w' | 'wx'): Promise<void> {
  await withFile(target, 'writing', async () => {
    const fh = await open(target, flags)
    try {
      await fh.writeFile(content)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await syncDir(path.dirname(target))
  })
}

function isEexist(error: unknown): boolean {
  const cause = error instanceof Error && error.cause !== undefined ? error.cause : error
  return typeof cause === 'object' && cause !== null && (cause as { code?: unknown }).code === 'EEXIST'
}
