// The entry of the compaction thread (compaction-thread.ts). A worker starts from plain JavaScript:
// Node 20 does not apply `--import tsx` given in a Worker's execArgv to its entry, so this registers
// tsx's loader in the thread itself and then loads the TypeScript worker (as the gateway's workers do).
import { register } from 'tsx/esm/api'

register()
await import('./compaction-worker.ts')
