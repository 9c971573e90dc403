import { cp, rm, unlink } from 'node:fs/promises'
import { logScratch } from '../../test/support/log-scratch.ts'
import { checkpointConformance } from './checkpoint-conformance.ts'
import { EmbeddedLog, type EmbeddedLogOptions } from './embedded.ts'

const { newDir } = logScratch('sluice-checkpoint')

/**
 * The shared suite on a data directory; a crash is simulated by copying the directory as it is on
 * disk (what a process killed at that moment leaves: everything written, nothing more) and
 * opening the copy, after removing the copied LOCK, which names this still-running process.
 */
function target(options: EmbeddedLogOptions) {
  return async () => {
    const dir = await newDir()
    const log = await EmbeddedLog.open(dir, options)
    const opened: EmbeddedLog[] = [log]
    const copies: string[] = []
    return {
      log,
      async crash() {
        const copy = `${dir}-crashed-${copies.length}`
        copies.push(copy)
        await cp(dir, copy, { recursive: true })
        await unlink(`${copy}/LOCK`)
        const restarted = await EmbeddedLog.open(copy, options)
        opened.push(restarted)
        return restarted
      },
      async cleanup() {
        await Promise.allSettled(opened.map((l) => l.close()))
        await Promise.all(copies.map((c) => rm(c, { recursive: true, force: true })))
      },
    }
  }
}

checkpointConformance('embedded, durability batch (the default)', target({}))
checkpointConformance('embedded, durability every 20 ms', target({ durability: { intervalMs: 20 } }))
checkpointConformance(
  'embedded, tiny segments, durability none',
  target({ segmentBytes: 300, indexInterval: 2, durability: 'none' }),
)
