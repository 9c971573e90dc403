/**
 * The two pattern engines that CEP properties run side by side: the TypeScript NFA and the
 * WebAssembly kernel (built from wasm/kernels/cep.ts once per test file that imports this).
 */
import { join } from 'node:path'
import type { PatternEngineFactory } from '../../runtime/cep/engine.ts'
import { createNfaEngine } from '../../runtime/cep/nfa.ts'
import { compileNfa } from '../../runtime/cep/nfa-compile.ts'
import type { PatternSpec } from '../../runtime/cep/pattern-spec.ts'
import { buildKernel, KERNELS_DIR } from '../../wasm/build.ts'
import { kernelRefusal, loadCepKernel } from '../../wasm/host/cep-kernel.ts'

export const cepKernel = await loadCepKernel((await buildKernel(join(KERNELS_DIR, 'cep.ts'))).wasmPath)

export interface EngineUnderTest {
  readonly name: string
  readonly create: PatternEngineFactory
  /** The kernel takes only patterns whose conditions read the event alone (kernelRefusal says why not). */
  readonly eventLocalOnly: boolean
  /** Whether it takes the pattern at all (the kernel refuses some: kernelRefusal). */
  readonly accepts: (spec: PatternSpec) => boolean
}

export const CEP_ENGINES: readonly EngineUnderTest[] = [
  { name: 'TypeScript NFA', create: createNfaEngine, eventLocalOnly: false, accepts: () => true },
  {
    name: 'WebAssembly kernel',
    create: cepKernel.factory(compileNfa),
    eventLocalOnly: true,
    accepts: (spec) => kernelRefusal(spec) === null,
  },
]
