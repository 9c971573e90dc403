import { defineConfig } from 'vitest/config'

// Integration tests talk to real servers started by scripts/servers/*.sh (see .ci/run).
export default defineConfig({
  test: {
    include: ['test/integration/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
})
