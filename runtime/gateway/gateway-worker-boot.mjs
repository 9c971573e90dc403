// The entry of a gateway worker thread (worker-pool.ts). A worker starts from plain JavaScript:
// Node 20 does not apply `--import tsx` given in a Worker's execArgv to its entry, so this registers
// tsx's loader in the thread itself and then loads the TypeScript worker, as bin/sluice.js runs the
// sources without a bundle.
import { register } from 'tsx/esm/api'

register()
await import('./gateway-worker.ts')
