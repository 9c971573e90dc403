import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildKernel, KernelBuildError } from '../build.ts'
import { Arena, instantiateKernel, KernelAbortError, type KernelBaseExports } from './kernel-host.ts'

// A tiny kernel of our own, so these tests exercise the build and the host without depending on
// any production kernel's behaviour.
const PROBE_SOURCE = `
export function heapBase(): usize {
  return __heap_base
}

export function sumF64(ptr: usize, length: i32): f64 {
  let total = 0.0
  for (let i: i32 = 0; i < length; i++) total += load<f64>(ptr + ((<usize>i) << 3))
  return total
}

export function checkedHalf(x: i32): i32 {
  if (x < 0) throw new Error("x must not be negative")
  return x / 2
}
`

interface ProbeExports extends KernelBaseExports {
  readonly sumF64: (ptr: number, length: number) => number
  readonly checkedHalf: (x: number) => number
}

let dir: string
let probeWasm: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-kernel-host-'))
  await writeFile(join(dir, 'probe.ts'), PROBE_SOURCE)
  probeWasm = (await buildKernel(join(dir, 'probe.ts'), join(dir, 'out', 'probe.wasm'))).wasmPath
}, 60_000)

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('buildKernel', () => {
  it('reuses an up-to-date build and rebuilds when the source or the output changes', async () => {
    const source = join(dir, 'cached.ts')
    const out = join(dir, 'cached', 'cached.wasm')
    await writeFile(
      source,
      'export function heapBase(): usize { return __heap_base }\nexport function one(): i32 { return 1 }\n',
    )
    const first = await buildKernel(source, out)
    expect(first.rebuilt).toBe(true)
    expect(first.manifest.flags).toEqual(['-O3', '--runtime', 'stub', '--noAssert'])
    const onDisk = JSON.parse(await readFile(first.manifestPath, 'utf8'))
    expect(onDisk).toEqual(first.manifest)

    const second = await buildKernel(source, out)
    expect(second.rebuilt).toBe(false)
    expect(second.manifest.wasmHash).toBe(first.manifest.wasmHash)

    // A corrupted output is detected by its hash and rebuilt.
    await writeFile(out, new Uint8Array([0, 1, 2]))
    expect((await buildKernel(source, out)).rebuilt).toBe(true)

    // A changed source (here through a relative import) gives a new input hash and a rebuild.
    await writeFile(join(dir, 'two.ts'), 'export const TWO: i32 = 2\n')
    await writeFile(
      source,
      "import { TWO } from './two'\nexport function heapBase(): usize { return __heap_base }\nexport function two(): i32 { return TWO }\n",
    )
    const third = await buildKernel(source, out)
    expect(third.rebuilt).toBe(true)
    expect(third.manifest.inputHash).not.toBe(first.manifest.inputHash)
    await writeFile(join(dir, 'two.ts'), 'export const TWO: i32 = 3\n')
    const fourth = await buildKernel(source, out)
    expect(fourth.rebuilt).toBe(true)
    const instance = await instantiateKernel<KernelBaseExports & { two: () => number }>(fourth.wasmPath)
    expect(instance.exports.two()).toBe(3)
  }, 60_000)

  it("reports asc's diagnostics with the file and position on a compile error", async () => {
    const source = join(dir, 'broken.ts')
    await writeFile(source, 'export function f(): i32 {\n  return "not a number"\n}\n')
    const error = await buildKernel(source, join(dir, 'broken.wasm')).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(KernelBuildError)
    expect((error as KernelBuildError).diagnostics).toContain('TS2322')
    expect((error as KernelBuildError).diagnostics).toMatch(/broken\.ts\(2,10\)/)
  }, 60_000)
})

describe('instantiateKernel', () => {
  it('turns an abort into a KernelAbortError with message, file and line', async () => {
    const probe = await instantiateKernel<ProbeExports>(probeWasm, 'probe')
    expect(probe.exports.checkedHalf(8)).toBe(4)
    const error = (() => {
      try {
        probe.exports.checkedHalf(-1)
        return null
      } catch (e) {
        return e
      }
    })()
    expect(error).toBeInstanceOf(KernelAbortError)
    const abort = error as KernelAbortError
    expect(abort.kernel).toBe('probe')
    expect(abort.line).toBe(13)
    expect(abort.file).toMatch(/probe\.ts$/)
    expect(abort.message).toContain('x must not be negative')
    expect(abort.message).toMatch(/probe\.ts:13:\d+/)
  })

  it('rejects a module without heapBase', async () => {
    const source = join(dir, 'nobase.ts')
    await writeFile(source, 'export function f(): i32 { return 1 }\n')
    const built = await buildKernel(source, join(dir, 'nobase.wasm'))
    await expect(instantiateKernel(built.wasmPath, 'nobase')).rejects.toThrow('does not export heapBase()')
  }, 60_000)
})

describe('Arena', () => {
  it('allocates aligned, non-overlapping ranges above the heap base and resets', async () => {
    const { arena, exports } = await instantiateKernel<ProbeExports>(probeWasm, 'probe')
    expect(arena.base).toBeGreaterThanOrEqual(exports.heapBase())
    expect(arena.base % 16).toBe(0)
    const a = arena.alloc(3, 1)
    const b = arena.alloc(16, 8)
    const c = arena.allocI32(5)
    const d = arena.allocF64(2)
    expect(a).toBe(arena.base)
    expect(b % 8).toBe(0)
    expect(b).toBeGreaterThanOrEqual(a + 3)
    expect(c).toBeGreaterThanOrEqual(b + 16)
    expect(c % 4).toBe(0)
    expect(d % 8).toBe(0)
    expect(d).toBeGreaterThanOrEqual(c + 20)
    expect(arena.used).toBe(d + 16 - arena.base)
    arena.reset()
    expect(arena.used).toBe(0)
    expect(arena.alloc(8)).toBe(arena.base)
    expect(() => arena.alloc(-1)).toThrow(RangeError)
    expect(() => arena.alloc(8, 3)).toThrow(RangeError)
  })

  it('grows the memory on demand; fresh views see data written before the growth', async () => {
    const { arena, exports, memory } = await instantiateKernel<ProbeExports>(probeWasm, 'probe')
    const before = memory.buffer.byteLength
    const values = Float64Array.from({ length: 1000 }, (_, i) => i * 0.5)
    const ptr = arena.copyF64(values)
    const oldView = arena.f64(ptr, values.length)
    expect(exports.sumF64(ptr, values.length)).toBe(values.reduce((s, v) => s + v, 0))

    // Far more than the memory holds now: the memory grows and the old view is detached.
    const big = arena.allocF64(2_000_000)
    expect(memory.buffer.byteLength).toBeGreaterThan(before)
    expect(memory.buffer.byteLength).toBeGreaterThanOrEqual(big + 16_000_000)
    expect(oldView.length).toBe(0)
    const fresh = arena.f64(ptr, values.length)
    expect(Array.from(fresh)).toEqual(Array.from(values))
    arena.f64(big, 2_000_000).fill(1)
    expect(exports.sumF64(big, 2_000_000)).toBe(2_000_000)
  })

  it('reports a memory that cannot grow as a RangeError', () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1 })
    const arena = new Arena(memory, 1020)
    expect(arena.base).toBe(1024)
    expect(arena.alloc(1000)).toBe(1024)
    expect(() => arena.alloc(70_000)).toThrow(RangeError)
  })

  it('copies i32 columns in', () => {
    const memory = new WebAssembly.Memory({ initial: 0 })
    const arena = new Arena(memory, 16)
    const ptr = arena.copyI32(Int32Array.from([1, -2, 3]))
    expect(Array.from(arena.i32(ptr, 3))).toEqual([1, -2, 3])
    expect(Array.from(arena.u8(ptr, 4))).toEqual([1, 0, 0, 0])
  })
})
