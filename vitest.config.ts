import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
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
