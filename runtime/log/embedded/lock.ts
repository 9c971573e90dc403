import { randomBytes } from 'node:crypto'
import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { SluiceError } from '../../errors.ts'
import { isCode } from './segment.ts'

/**
 * The data directory's owner lock: `<dataDir>/LOCK` holding the owner's pid and a newline.
 *
 * The file is created atomically *with* its content: written under a temp name, then hard-linked
 * to LOCK (link fails with EEXIST like open 'wx' does). So LOCK never exists empty and a reader
 * always sees a pid. A lock whose pid is not a live process (the owner crashed) is stale and is
 * taken over: it is renamed aside first, so of two processes racing for the same stale lock only
 * one moves it, and the other then finds the winner's fresh lock.
 *
 * A pid reused by an unrelated process after a crash looks alive; the error message says how to
 * clear that by hand.
 */
export async function acquireLock(dataDir: string): Promise<string> {
  const lockFile = path.join(dataDir, 'LOCK')
  for (let attempt = 0; attempt < 10; attempt++) {
    const temp = path.join(dataDir, `LOCK.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
    await writeFile(temp, `${process.pid}\n`)
    try {
      await link(temp, lockFile)
      return lockFile
    } catch (error) {
      if (!isCode(error, 'EEXIST')) throw error
    } finally {
      await unlink(temp)
    }
    const holder = await readHolder(lockFile)
    if (holder === undefined) continue // released meanwhile: try again
    if (holder !== null && isAlive(holder)) {
      const who = holder === process.pid ? `this process (pid ${holder})` : `pid ${holder}`
      throw new SluiceError(
        'LOG_LOCKED',
        `data directory ${dataDir} is in use by ${who}; stop that process first (if no Sluice process owns it, delete ${lockFile})`,
      )
    }
    const aside = `${lockFile}.stale.${process.pid}.${randomBytes(4).toString('hex')}`
    try {
      await rename(lockFile, aside)
    } catch (error) {
      if (isCode(error, 'ENOENT')) continue
      throw error
    }
    const moved = await readHolder(aside)
    if (moved !== holder) {
      // Between our read and the rename another process took over the stale lock and we moved
      // its fresh one. Put it back (link fails if a third process got in) and retry.
      await link(aside, lockFile).catch(() => {})
    }
    await unlink(aside)
  }
  throw new SluiceError('LOG_LOCKED', `could not take the lock ${lockFile}: it keeps changing hands`, {
    retryable: true,
  })
}

/** Removes the lock if it is still ours. */
export async function releaseLock(lockFile: string): Promise<void> {
  if ((await readHolder(lockFile)) === process.pid) await unlink(lockFile)
}

/** The pid in a lock file; null when the content is not a pid; undefined when there is no file. */
async function readHolder(file: string): Promise<number | null | undefined> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    if (isCode(error, 'ENOENT')) return undefined
    throw error
  }
  const pid = Number(text.trim())
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return isCode(error, 'EPERM')
  }
}
