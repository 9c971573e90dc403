/**
 * Summarises a V8 CPU profile (`node --cpu-prof` writes one `.cpuprofile` per process): self time
 * per function and per component (kafkajs, the embedded log, the runner, generated code, GC, idle,
 * …), optionally only for the samples inside a time window, so a benchmark can profile one phase
 * of a process (the processing, not the set-up before it).
 *
 * Sample times: `startTime` plus the running sum of `timeDeltas`, in µs of V8's monotonic clock,
 * which on Linux and macOS is the clock `process.hrtime` reads (ns there; divide by 1000).
 */

export interface CpuProfileNode {
  readonly id: number
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber: number
    readonly columnNumber: number
  }
  readonly children?: readonly number[]
}

export interface CpuProfile {
  readonly nodes: readonly CpuProfileNode[]
  readonly startTime: number
  readonly endTime: number
  readonly samples: readonly number[]
  readonly timeDeltas: readonly number[]
}

export interface ProfileShare {
  /** A function (`name (file:line)`) or a component. */
  readonly name: string
  /** Self time, µs. */
  readonly selfUs: number
  /** Share of all sampled time in the window, including idle (0..1). */
  readonly share: number
  /** Share of the non-idle time in the window (0..1). */
  readonly busyShare: number
}

export interface ProfileSummary {
  /** Sampled time in the window, µs. */
  readonly totalUs: number
  /** Of which idle (the event loop waiting for I/O or timers), µs. */
  readonly idleUs: number
  /** Whether only part of the profile was summarised (a window was given and samples fell in it). */
  readonly windowed: boolean
  readonly components: readonly ProfileShare[]
  /** Heaviest functions by self time, at most `top`. */
  readonly functions: readonly ProfileShare[]
}

export interface SummarizeOptions {
  /** Only samples taken in [startUs, endUs] (the profile's clock, µs). */
  readonly window?: { readonly startUs: number; readonly endUs: number }
  /** How many functions to list (default 15). */
  readonly top?: number
  /** Paths to print relative to (e.g. the repository root). */
  readonly root?: string
}

const IDLE = '(idle)'

/** The component a call frame belongs to, by its script URL and name. */
export function componentOf(frame: CpuProfileNode['callFrame']): string {
  const { functionName, url } = frame
  if (url === '') {
    if (functionName === IDLE) return 'idle (waiting for I/O)'
    if (functionName === '(garbage collector)') return 'garbage collector'
    if (functionName === '(program)') return 'V8/native (program)'
    if (functionName === '(root)') return 'V8/native (program)'
    return `V8 builtin: ${functionName || '(anonymous)'}`
  }
  if (url.includes('/node_modules/kafkajs/')) return 'kafkajs'
  if (url.includes('/node_modules/')) {
    const match = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)
    return `package ${match?.[1] ?? '?'}`
  }
  if (url.startsWith('node:')) return `node core (${url.slice('node:'.length).split('/')[0]})`
  if (url.includes('/runtime/log/embedded')) return 'embedded log (runtime/log/embedded*)'
  if (url.includes('/runtime/log/kafka')) return 'Kafka log adapter (runtime/log/kafka.ts)'
  if (url.includes('/runtime/node/pipeline-runner'))
    return 'pipeline runner (runtime/node/pipeline-runner.ts)'
  if (url.includes('/stdlib/')) return 'stdlib'
  if (url.includes('/runtime/artifact/')) return 'artifact runtime (runtime/artifact)'
  if (url.includes('/sluice-artifact-')) return 'generated artifact code (operators.mjs)'
  if (url.includes('/benchmarks/')) return 'benchmark harness'
  if (url.includes('/runtime/')) return 'runtime (other)'
  return 'other JS (generated artifact code, …)'
}

function shortUrl(url: string, root: string | undefined): string {
  let path = url.startsWith('file://') ? decodeURIComponent(url.slice('file://'.length)) : url
  const query = path.indexOf('?')
  if (query >= 0) path = path.slice(0, query)
  // A loaded artifact lives in a temporary directory: name it by its file only.
  const artifact = /\/sluice-artifact-[^/]+\/[^/]+\/(.*)$/.exec(path)
  if (artifact !== null) return `<artifact>/${artifact[1]}`
  if (root !== undefined && path.startsWith(`${root}/`)) path = path.slice(root.length + 1)
  const nm = path.lastIndexOf('/node_modules/')
  if (nm >= 0) path = path.slice(nm + 1)
  return path
}

/**
 * `name (file:line)`, with 1-based lines; builtins and V8 pseudo-frames by name only. TypeScript
 * files (run through tsx) get no line: the profile's lines are those of the transformed code.
 */
export function describeFrame(frame: CpuProfileNode['callFrame'], root?: string): string {
  const name = frame.functionName || '(anonymous)'
  if (frame.url === '') return name
  const file = shortUrl(frame.url, root)
  return file.endsWith('.ts') ? `${name} (${file})` : `${name} (${file}:${frame.lineNumber + 1})`
}

/** Self time per function and per component, over the whole profile or a window of it. */
export function summarizeProfile(profile: CpuProfile, options: SummarizeOptions = {}): ProfileSummary {
  const byId = new Map<number, CpuProfileNode>()
  for (const node of profile.nodes) byId.set(node.id, node)
  const selfById = new Map<number, number>()
  const inWindow = (t: number) =>
    options.window === undefined || (t >= options.window.startUs && t <= options.window.endUs)
  let windowHits = 0
  const accumulate = (useWindow: boolean) => {
    selfById.clear()
    let t = profile.startTime
    for (let i = 0; i < profile.samples.length; i++) {
      const delta = profile.timeDeltas[i] ?? 0
      t += delta
      if (useWindow && !inWindow(t)) continue
      // The time since the previous sample is charged to this sample's frame.
      const id = profile.samples[i]!
      selfById.set(id, (selfById.get(id) ?? 0) + Math.max(0, delta))
      windowHits++
    }
  }
  accumulate(true)
  const windowed = options.window !== undefined && windowHits > 0
  if (options.window !== undefined && windowHits === 0) accumulate(false)

  const byFunction = new Map<string, number>()
  const byComponent = new Map<string, number>()
  let totalUs = 0
  let idleUs = 0
  for (const [id, us] of selfById) {
    const frame = byId.get(id)?.callFrame
    if (frame === undefined) continue
    totalUs += us
    if (frame.functionName === IDLE && frame.url === '') idleUs += us
    const fn = describeFrame(frame, options.root)
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us)
    const component = componentOf(frame)
    byComponent.set(component, (byComponent.get(component) ?? 0) + us)
  }
  const busyUs = totalUs - idleUs
  const shares = (map: Map<string, number>, skipIdle: boolean): ProfileShare[] =>
    [...map]
      .filter(([name]) => !(skipIdle && name === IDLE))
      .map(([name, selfUs]) => ({
        name,
        selfUs,
        share: totalUs > 0 ? selfUs / totalUs : 0,
        busyShare: busyUs > 0 && name !== IDLE && name !== 'idle (waiting for I/O)' ? selfUs / busyUs : 0,
      }))
      .sort((a, b) => b.selfUs - a.selfUs || a.name.localeCompare(b.name))
  return {
    totalUs,
    idleUs,
    windowed,
    components: shares(byComponent, false),
    functions: shares(byFunction, true).slice(0, options.top ?? 15),
  }
}
