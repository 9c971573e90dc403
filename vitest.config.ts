import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    // Builds the WebAssembly kernels (cached) that compiled artifacts ship: npm ci does it too.
    globalSetup: ['test/support/build-kernels.ts'],
    // The JSON report feeds scripts/test-summary.mjs (the closing 'N passed, N failed' line of CI).
    reporters: ['default', 'json'],
    outputFile: { json: '.cache/test-results/unit.json' },
    include: [
      'test/support/**/*.test.ts',
      'compiler/**/*.test.ts',
      'runtime/**/*.test.ts',
      'stdlib/**/*.test.ts',
      'wasm/**/*.test.ts',
      'cli/**/*.test.ts',
      'specs/**/*.test.ts',
      'examples/**/*.test.ts',
      'benchmarks/**/*.test.ts',
    ],
    testTimeout: 30_000,
  },
})
