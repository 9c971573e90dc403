import { defineConfig } from 'vitest/config'

// Integration tests talk to real servers started by scripts/servers/*.sh (see .ci/run).
export default defineConfig({
  test: {
    // Builds the WebAssembly kernels (cached) that compiled artifacts ship: npm ci does it too.
    globalSetup: ['test/support/build-kernels.ts'],
    // The JSON report feeds scripts/test-summary.mjs (the closing 'N passed, N failed' line of CI).
    reporters: ['default', 'json'],
    outputFile: { json: '.cache/test-results/integration.json' },
    include: ['test/integration/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
})
