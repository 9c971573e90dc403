/**
 * Hosting a compiled AssemblyScript kernel (built with `--runtime stub`, see wasm/build.ts).
 *
 * Such a module has no allocator and no garbage collector: it exports its `memory`, a
 * `heapBase()` function (the first byte above its static data) and its kernel functions, and it
 * imports only `env.abort`. The host owns everything above `heapBase()`: an `Arena` lays columns
 * out there (bump allocation, reset per batch), grows the memory when a batch needs more, and hands
 * out typed-array views. `memory.grow` detaches every existing view of the old buffer, so views
 * are created after the last allocation of a batch, or re-fetched through `Arena.view*` (which
 * always use the current buffer).
 */

import { readFile } from 'node:fs/promises'

const PAGE_BYTES = 65_536

/** Raised when a kernel calls `abort` (an `assert` or `unreachable` in AssemblyScript source). */
export class KernelAbortError extends Error {
  readonly kernel: string
  readonly file: string | null
  readonly line: number
  readonly column: number

  constructor(kernel: string, message: string | null, file: string | null, line: number, column: number) {
    const where = file === null ? 'unknown location' : `${file}:${line}:${column}`
    super(`wasm kernel '${kernel}' aborted at ${where}: ${message ?? 'no message'}`)
    this.name = 'KernelAbortError'
    this.kernel = kernel
    this.file = file
    this.line = line
    this.column = column
  }
}

/** What every kernel module exports besides its own functions. */
export interface KernelBaseExports {
  readonly memory: WebAssembly.Memory
  readonly heapBase: () => number
}

export interface KernelInstance<E extends KernelBaseExports = KernelBaseExports> {
  readonly name: string
  readonly exports: E
  readonly memory: WebAssembly.Memory
  /** An arena over the memory above `heapBase()`. */
  readonly arena: Arena
}

/**
 * Reads an AssemblyScript string (UTF-16LE; its byte length is the u32 just before `ptr`) from
 * `memory`. Returns null for a null pointer or one outside the memory.
 */
export function readAssemblyScriptString(memory: WebAssembly.Memory, ptr: number): string | null {
  if (ptr === 0 || ptr < 4 || ptr > memory.buffer.byteLength) return null
  const byteLength = new DataView(memory.buffer).getUint32(ptr - 4, true)
  if (ptr + byteLength > memory.buffer.byteLength) return null
  return Buffer.from(memory.buffer, ptr, byteLength & ~1).toString('utf16le')
}

/**
 * Instantiates a compiled kernel from its bytes or a `.wasm` path. `name` appears in abort errors.
 * The module must export `memory` and `heapBase`.
 */
export async function instantiateKernel<E extends KernelBaseExports>(
  wasm: Uint8Array | string,
  name = typeof wasm === 'string' ? wasm : 'kernel',
): Promise<KernelInstance<E>> {
  const bytes = typeof wasm === 'string' ? await readFile(wasm) : wasm
  let memoryRef: WebAssembly.Memory | null = null
  const imports = {
    env: {
      abort(messagePtr: number, filePtr: number, line: number, column: number): never {
        const memory = memoryRef
        const message = memory === null ? null : readAssemblyScriptString(memory, messagePtr)
        const file = memory === null ? null : readAssemblyScriptString(memory, filePtr)
        throw new KernelAbortError(name, message, file, line, column)
      },
    },
  }
  // Compile, then instantiate: a module can be cached and instantiated again by a later caller.
  const module = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>)
  const instance = await WebAssembly.instantiate(module, imports)
  const exports = instance.exports as unknown as E
  if (!(exports.memory instanceof WebAssembly.Memory))
    throw new Error(`wasm kernel '${name}' does not export memory`)
  if (typeof exports.heapBase !== 'function')
    throw new Error(`wasm kernel '${name}' does not export heapBase()`)
  memoryRef = exports.memory
  return { name, exports, memory: exports.memory, arena: new Arena(exports.memory, exports.heapBase()) }
}

/**
 * A bump allocator over a wasm memory, from `base` up. `alloc` returns byte offsets (the pointers a
 * kernel takes); `reset` frees everything at once. Growing the memory detaches old views, so take
 * views (`f64`, `i32`, …) after the allocations of a batch, or call them again after more
 * allocation; they always view the current buffer.
 */
export class Arena {
  readonly memory: WebAssembly.Memory
  /** The first byte the arena hands out: the `base` it was given, rounded up to 16. */
  readonly base: number
  private top: number

  constructor(memory: WebAssembly.Memory, base: number) {
    if (!Number.isInteger(base) || base < 0) throw new RangeError(`invalid arena base ${base}`)
    this.memory = memory
    this.base = (base + 15) & ~15
    this.top = this.base
  }

  /** Bytes allocated since the last reset. */
  get used(): number {
    return this.top - this.base
  }

  /** Frees every allocation (the memory stays as large as it grew). */
  reset(): void {
    this.top = this.base
  }

  /** Allocates `bytes` bytes aligned to `align` (a power of two), growing the memory if needed. */
  alloc(bytes: number, align = 8): number {
    if (!Number.isInteger(bytes) || bytes < 0) throw new RangeError(`invalid allocation size ${bytes}`)
    if (align <= 0 || (align & (align - 1)) !== 0)
      throw new RangeError(`alignment ${align} is not a power of two`)
    const ptr = (this.top + align - 1) & ~(align - 1)
    const end = ptr + bytes
    this.ensure(end)
    this.top = end
    return ptr
  }

  /** Allocates room for `length` f64 values. */
  allocF64(length: number): number {
    return this.alloc(length * 8, 8)
  }

  /** Allocates room for `length` i32 values. */
  allocI32(length: number): number {
    return this.alloc(length * 4, 4)
  }

  /** Allocates and fills an f64 column with `values`; returns its pointer. */
  copyF64(values: Float64Array): number {
    const ptr = this.allocF64(values.length)
    this.f64(ptr, values.length).set(values)
    return ptr
  }

  /** Allocates and fills an i32 column with `values`; returns its pointer. */
  copyI32(values: Int32Array): number {
    const ptr = this.allocI32(values.length)
    this.i32(ptr, values.length).set(values)
    return ptr
  }

  /** A view of `length` f64 values at `ptr`, over the current buffer. */
  f64(ptr: number, length: number): Float64Array {
    return new Float64Array(this.memory.buffer, ptr, length)
  }

  /** A view of `length` i32 values at `ptr`, over the current buffer. */
  i32(ptr: number, length: number): Int32Array {
    return new Int32Array(this.memory.buffer, ptr, length)
  }

  /** A view of `length` bytes at `ptr`, over the current buffer. */
  u8(ptr: number, length: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, ptr, length)
  }

  /** Grows the memory so that byte `end - 1` is addressable. */
  private ensure(end: number): void {
    const have = this.memory.buffer.byteLength
    if (end <= have) return
    const pages = Math.ceil((end - have) / PAGE_BYTES)
    try {
      this.memory.grow(pages)
    } catch (error) {
      throw new RangeError(`wasm memory cannot grow by ${pages} pages to hold ${end} bytes`, { cause: error })
    }
  }
}

/** Compiled modules by path (bytes are compiled every time they are passed). */
const compiledByPath = new Map<string, Promise<WebAssembly.Module>>()

/**
 * A kernel's module, compiled once per path (or from its bytes), checked to export `required`:
 * a module that lacks one is not the `name` kernel.
 */
export async function compileKernelModule(
  wasm: Uint8Array | string,
  name: string,
  required: readonly string[],
): Promise<WebAssembly.Module> {
  let module: WebAssembly.Module
  if (typeof wasm === 'string') {
    let pending = compiledByPath.get(wasm)
    if (pending === undefined) {
      pending = readFile(wasm).then((bytes) => WebAssembly.compile(bytes))
      compiledByPath.set(wasm, pending)
      pending.catch(() => compiledByPath.delete(wasm))
    }
    module = await pending
  } else {
    module = await WebAssembly.compile(wasm as Uint8Array<ArrayBuffer>)
  }
  const exported = new Set(WebAssembly.Module.exports(module).map((entry) => entry.name))
  const missing = required.filter((export_) => !exported.has(export_))
  if (missing.length > 0)
    throw new Error(`wasm module is not the ${name} kernel (missing exports: ${missing.join(', ')})`)
  return module
}

/**
 * A new instance of a compiled kernel module, whose `abort` (an AssemblyScript assertion) throws a
 * KernelAbortError naming `name` with the kernel's message and source position.
 */
export function instantiateKernelModule<E extends { readonly memory: WebAssembly.Memory }>(
  module: WebAssembly.Module,
  name: string,
): E {
  let memory: WebAssembly.Memory | null = null
  const imports = {
    env: {
      abort(messagePtr: number, filePtr: number, line: number, column: number): never {
        const message = memory === null ? null : readAssemblyScriptString(memory, messagePtr)
        const file = memory === null ? null : readAssemblyScriptString(memory, filePtr)
        throw new KernelAbortError(name, message, file, line, column)
      },
    },
  }
  const exports = new WebAssembly.Instance(module, imports).exports as unknown as E
  memory = exports.memory
  return exports
}
