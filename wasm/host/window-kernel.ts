/**
 * Host binding of the window accumulator kernel (wasm/kernels/window.ts): a WindowAccumulatorStore
 * (contract: runtime/window/accumulator-store.ts) whose rows and hash table live in a WebAssembly
 * instance's linear memory, with the same results as the TypeScript TypedArrayWindowStore.
 *
 *   const kernel = await loadWindowKernel()          // wasm/dist/window.wasm, compiled once
 *   const store = kernel.createStore({ accumulators: ['count', 'sum'], sizeMs: 60_000, slideMs: 60_000 })
 *   store.add(keyIds, times, horizons, [times, amounts], n)
 *
 * Each store is one instance of the compiled module (instantiating a compiled module is cheap and
 * synchronous). `add` copies the batch's columns into the kernel's input area (the count
 * accumulator's argument column is not copied: the kernel never reads it) and runs the whole batch
 * in one call; `collect`/`export` copy the rows the kernel wrote to its output area into fresh
 * typed arrays. Views of the memory are cached and re-taken when the memory grew or the kernel
 * moved its layout (`layoutVersion`).
 */

import { fileURLToPath } from 'node:url'
import type {
  WindowAccumulatorStore,
  WindowRows,
  WindowStoreSpec,
} from '../../runtime/window/accumulator-store.ts'
import {
  ACCUMULATOR_CODES,
  badEventError,
  checkAddArguments,
  checkCollectBounds,
  checkImportRows,
  checkWindowStoreSpec,
} from '../../runtime/window/typed-array-store.ts'
import { compileKernelModule, instantiateKernelModule } from './kernel-host.ts'

/** The default location of the built kernel (`npm run build:wasm`, or `buildKernel` from wasm/build.ts). */
export const WINDOW_WASM_PATH = fileURLToPath(new URL('../dist/window.wasm', import.meta.url))

interface WindowExports {
  readonly memory: WebAssembly.Memory
  readonly heapBase: () => number
  readonly init: (accumulators: number, sizeMs: number, slideMs: number) => void
  readonly setKind: (j: number, code: number) => void
  readonly reserveInput: (length: number) => void
  readonly reserveOutput: (length: number) => void
  readonly layoutVersion: () => number
  readonly inputCapacity: () => number
  readonly inputTimes: () => number
  readonly inputHorizons: () => number
  readonly inputArgs: () => number
  readonly inputKeyIds: () => number
  readonly outputCapacity: () => number
  readonly outputStarts: () => number
  readonly outputValues: () => number
  readonly outputAux: () => number
  readonly outputKeyIds: () => number
  readonly outputDirty: () => number
  readonly rowCountOf: () => number
  readonly nextEmitEnd: () => number
  readonly minEnd: () => number
  readonly add: (length: number) => number
  readonly collect: (emitUpTo: number, purgeUpTo: number) => number
  readonly exportRows: () => number
  readonly clear: () => void
  readonly importRows: (length: number) => number
  /** Absent in kernels built before `emit on update` (artifacts ship their kernel). */
  readonly peekRow?: (key: number, start: number) => number
}

const REQUIRED_EXPORTS = [
  'init',
  'setKind',
  'reserveInput',
  'reserveOutput',
  'layoutVersion',
  'add',
  'collect',
  'exportRows',
  'importRows',
  'clear',
] as const

export interface WindowKernel {
  /** A new, empty store on its own instance of the kernel (throws a RangeError on an invalid spec). */
  createStore(spec: WindowStoreSpec): WasmWindowStore
}

/** Compiles the window kernel (once per path) from its bytes or a `.wasm` path. */
export async function loadWindowKernel(wasm: Uint8Array | string = WINDOW_WASM_PATH): Promise<WindowKernel> {
  const module = await compileKernelModule(wasm, 'window', ['memory', 'heapBase', ...REQUIRED_EXPORTS])
  return { createStore: (spec) => new WasmWindowStore(module, spec) }
}

function instantiate(module: WebAssembly.Module): WindowExports {
  return instantiateKernelModule<WindowExports>(module, 'window')
}

export class WasmWindowStore implements WindowAccumulatorStore {
  readonly spec: WindowStoreSpec
  private readonly codes: Uint8Array
  private readonly accCount: number
  private readonly kernel: WindowExports
  private readonly memory: WebAssembly.Memory

  // Cached views of the input area, valid for `viewBuffer` and `viewVersion`.
  private viewBuffer: ArrayBuffer | null = null
  private viewVersion = -1
  private inKeyIds = new Int32Array(0)
  private inTimes = new Float64Array(0)
  private inHorizons = new Float64Array(0)
  private inArgs: Float64Array[] = []

  /** The row of (key id, start), unchanged (accumulator-store.ts); absent with an older kernel. */
  readonly peek?: (keyId: number, start: number) => WindowRows

  constructor(module: WebAssembly.Module, spec: WindowStoreSpec) {
    this.codes = checkWindowStoreSpec(spec)
    this.spec = { accumulators: [...spec.accumulators], sizeMs: spec.sizeMs, slideMs: spec.slideMs }
    this.accCount = this.codes.length
    this.kernel = instantiate(module)
    this.memory = this.kernel.memory
    this.kernel.init(this.accCount, spec.sizeMs, spec.slideMs)
    for (let j = 0; j < this.accCount; j++) this.kernel.setKind(j, this.codes[j]!)
    const peekRow = this.kernel.peekRow
    if (peekRow !== undefined) this.peek = (keyId, start) => this.copyOutput(peekRow(keyId, start))
  }

  get size(): number {
    return this.kernel.rowCountOf()
  }

  /** The kernel's whole linear memory (rows, table, input and output areas, growth scratch). */
  get approximateBytes(): number {
    return this.memory.buffer.byteLength
  }

  get nextEmitEnd(): number {
    return this.kernel.nextEmitEnd()
  }

  get minEnd(): number {
    return this.kernel.minEnd()
  }

  add(
    keyIds: Int32Array,
    times: Float64Array,
    horizons: Float64Array,
    args: readonly Float64Array[],
    length: number,
  ): void {
    const codes = this.codes
    checkAddArguments(codes, keyIds, times, horizons, args, length)
    if (length === 0) return
    const kernel = this.kernel
    if (length > kernel.inputCapacity()) kernel.reserveInput(length)
    this.refreshInputViews()
    const whole = keyIds.length === length
    this.inKeyIds.set(whole ? keyIds : keyIds.subarray(0, length))
    this.inTimes.set(times.length === length ? times : times.subarray(0, length))
    this.inHorizons.set(horizons.length === length ? horizons : horizons.subarray(0, length))
    for (let j = 0; j < codes.length; j++) {
      if (codes[j] === ACCUMULATOR_CODES.count) continue
      const column = args[j]!
      this.inArgs[j]!.set(column.length === length ? column : column.subarray(0, length))
    }
    const done = kernel.add(length)
    if (done !== length) throw badEventError(keyIds, times, done)
  }

  collect(emitUpTo: number, purgeUpTo: number): WindowRows {
    checkCollectBounds(emitUpTo, purgeUpTo)
    return this.copyOutput(this.kernel.collect(emitUpTo, purgeUpTo))
  }

  export(): WindowRows {
    return this.copyOutput(this.kernel.exportRows())
  }

  clear(): void {
    this.kernel.clear()
  }

  import(rows: WindowRows): void {
    checkImportRows(rows, this.accCount)
    const kernel = this.kernel
    if (kernel.rowCountOf() !== 0) {
      throw new Error(`import needs an empty store (it holds ${kernel.rowCountOf()} rows)`)
    }
    const n = rows.length
    for (let i = 0; i < n; i++) {
      if (rows.keyIds[i]! < 0 || !Number.isSafeInteger(rows.starts[i]!)) {
        throw new RangeError(
          `row ${i} has an invalid key id ${rows.keyIds[i]} or window start ${rows.starts[i]}`,
        )
      }
    }
    kernel.reserveOutput(n)
    const buffer = this.memory.buffer
    const cap = kernel.outputCapacity()
    new Int32Array(buffer, kernel.outputKeyIds(), n).set(rows.keyIds.subarray(0, n))
    new Float64Array(buffer, kernel.outputStarts(), n).set(rows.starts.subarray(0, n))
    new Uint8Array(buffer, kernel.outputDirty(), n).set(rows.dirty.subarray(0, n))
    const values = kernel.outputValues()
    const aux = kernel.outputAux()
    for (let j = 0; j < this.accCount; j++) {
      new Float64Array(buffer, values + 8 * j * cap, n).set(rows.values[j]!.subarray(0, n))
      new Float64Array(buffer, aux + 8 * j * cap, n).set(rows.aux[j]!.subarray(0, n))
    }
    const done = kernel.importRows(n)
    if (done !== n) {
      kernel.clear()
      throw new RangeError(
        `row ${done} repeats key id ${rows.keyIds[done]} and window start ${rows.starts[done]}`,
      )
    }
  }

  /** Re-takes the input views when the memory grew or the kernel moved its layout. */
  private refreshInputViews(): void {
    const kernel = this.kernel
    const buffer = this.memory.buffer
    const version = kernel.layoutVersion()
    if (buffer === this.viewBuffer && version === this.viewVersion) return
    const cap = kernel.inputCapacity()
    this.inKeyIds = new Int32Array(buffer, kernel.inputKeyIds(), cap)
    this.inTimes = new Float64Array(buffer, kernel.inputTimes(), cap)
    this.inHorizons = new Float64Array(buffer, kernel.inputHorizons(), cap)
    const args = kernel.inputArgs()
    this.inArgs = []
    for (let j = 0; j < this.accCount; j++)
      this.inArgs.push(new Float64Array(buffer, args + 8 * j * cap, cap))
    this.viewBuffer = buffer
    this.viewVersion = version
  }

  /** Copies `n` rows out of the kernel's output area into fresh arrays. */
  private copyOutput(n: number): WindowRows {
    const kernel = this.kernel
    const values: Float64Array[] = []
    const aux: Float64Array[] = []
    if (n === 0) {
      for (let j = 0; j < this.accCount; j++) {
        values.push(new Float64Array(0))
        aux.push(new Float64Array(0))
      }
      return {
        length: 0,
        keyIds: new Int32Array(0),
        starts: new Float64Array(0),
        dirty: new Uint8Array(0),
        values,
        aux,
      }
    }
    const buffer = this.memory.buffer
    const cap = kernel.outputCapacity()
    const valuesPtr = kernel.outputValues()
    const auxPtr = kernel.outputAux()
    for (let j = 0; j < this.accCount; j++) {
      values.push(new Float64Array(buffer, valuesPtr + 8 * j * cap, n).slice())
      aux.push(new Float64Array(buffer, auxPtr + 8 * j * cap, n).slice())
    }
    return {
      length: n,
      keyIds: new Int32Array(buffer, kernel.outputKeyIds(), n).slice(),
      starts: new Float64Array(buffer, kernel.outputStarts(), n).slice(),
      dirty: new Uint8Array(buffer, kernel.outputDirty(), n).slice(),
      values,
      aux,
    }
  }
}
