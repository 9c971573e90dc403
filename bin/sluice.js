#!/usr/bin/env node
// Entry point: run the precompiled bundle (dist/.sluice-cli, built by scripts/build-cli.mjs) when
// it was built from the sources as they are now, else the TypeScript sources through tsx, which
// transpiles them at start-up (0.3-0.4 s more with tsx's cache warm: benchmarks/reports/cli-startup.md).
// Why and how fresh is decided: docs/decisions/0017-precompiled-cli.md.
//   SLUICE_CLI=source   always the sources        SLUICE_CLI=bundle   the bundle or an error
//   SLUICE_DEBUG=1      say which one runs, and map bundle stack traces back to the sources
import { freshBundle } from './fresh-bundle.js'

const root = new URL('../', import.meta.url)
const mode = process.env.SLUICE_CLI ?? 'auto'
if (!['auto', 'bundle', 'source'].includes(mode)) {
  process.stderr.write(`sluice: SLUICE_CLI must be auto, bundle or source, not "${mode}"\n`)
  process.exit(2)
}
const bundle =
  mode === 'source'
    ? { stale: 'SLUICE_CLI=source' }
    : await freshBundle(root, new URL('dist/.sluice-cli/', root))
if (mode === 'bundle' && bundle.stale) {
  process.stderr.write(`sluice: SLUICE_CLI=bundle but the bundle cannot run: ${bundle.stale}\n`)
  process.exit(2)
}
const debug = Boolean(process.env.SLUICE_DEBUG)
let main
if (bundle.entry) {
  if (debug) {
    process.setSourceMapsEnabled(true)
    process.stderr.write(`sluice: running the bundle ${bundle.entry.pathname}\n`)
  }
  ;({ main } = await import(bundle.entry.href))
} else {
  if (debug) process.stderr.write(`sluice: running the sources through tsx (${bundle.stale})\n`)
  const { register } = await import('tsx/esm/api')
  register()
  ;({ main } = await import('../cli/main.ts'))
}
process.exitCode = await main(process.argv.slice(2))
