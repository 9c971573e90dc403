/**
 * The WebAssembly kernels an artifact ships. They are built from wasm/kernels/ by
 * `npm run build:wasm` (npm ci runs it as part of `prepare`) into wasm/dist/, and the compiler
 * copies the built bytes into each artifact that uses them, so a node runs exactly the kernel its
 * artifact was compiled with (its sha256 is in the manifest and the content hash).
 */
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** Where a built kernel lives. */
export function kernelPath(name: string): string {
  return fileURLToPath(new URL(`../../wasm/dist/${name}.wasm`, import.meta.url))
}

/** The built kernel's bytes, or null when it has not been built. */
export function readKernel(name: string): Uint8Array | null {
  const path = kernelPath(name)
  return existsSync(path) ? readFileSync(path) : null
}
