/**
 * Vitest global setup: builds every WebAssembly kernel into wasm/dist (a cached build returns at
 * once), so tests that compile windowed pipelines ship the kernel as `npm ci` (prepare) would.
 */
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { buildKernel, KERNELS_DIR } from '../../wasm/build.ts'

export default async function setup(): Promise<void> {
  const kernels = (await readdir(KERNELS_DIR)).filter((name) => name.endsWith('.ts'))
  for (const kernel of kernels) await buildKernel(join(KERNELS_DIR, kernel))
}
