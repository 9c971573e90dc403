// Preloaded into a measured child (NODE_OPTIONS=--require, by child-cpu.ts): when the process
// exits, writes the CPU time it used since it started (user and system, all threads, µs) to stderr
// as one marked line, so the parent learns a child's CPU time, which Node does not report for
// children. Plain CommonJS with nothing to import: it must cost the measured process next to nothing.
'use strict'
process.on('exit', () => {
  const { user, system } = process.cpuUsage()
  require('node:fs').writeSync(
    2,
    `\n@@sluice-bench-cpu ${JSON.stringify({ userUs: user, systemUs: system })}\n`,
  )
})
