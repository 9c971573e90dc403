/**
 * Where a process's garbage comes from: V8's sampling heap profiler, run in this process through
 * the inspector, with the objects the young and the old generation's collections freed kept in
 * the profile (`includeObjectsCollectedByMinorGC/MajorGC`). Without those flags the profile shows
 * only what is still alive when it stops, which for a request path is almost nothing: the cost of
 * a request path is what it allocates and drops.
 *
 * Each sample stands for about `samplingIntervalBytes` of allocation, so the bytes summed per
 * allocating function are an estimate (good to a few percent over many megabytes), not a count.
 * The bytes are those of V8's heap (objects, strings, arrays); the backing stores of Buffers and
 * ArrayBuffers are outside it and not sampled.
 */
import { Session } from 'node:inspector'

interface SamplingHeapProfileNode {
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber: number
    readonly columnNumber: number
  }
  readonly selfSize: number
  readonly children: readonly SamplingHeapProfileNode[]
}

export interface SamplingHeapProfile {
  readonly head: SamplingHeapProfileNode
}

export interface AllocationSite {
  /** `function (file:line)`, the file relative to `root` when under it. */
  readonly name: string
  readonly bytes: number
}

export interface AllocationSummary {
  /** Estimated bytes allocated on V8's heap while sampling. */
  readonly totalBytes: number
  /** Heaviest allocating functions (self bytes), at most `top`. */
  readonly sites: readonly AllocationSite[]
}

/** Self bytes per function of a sampling heap profile, heaviest first. */
export function summarizeAllocations(
  profile: SamplingHeapProfile,
  options: { readonly top?: number; readonly root?: string } = {},
): AllocationSummary {
  const bySite = new Map<string, number>()
  let totalBytes = 0
  // Each node with the name of its caller: "(anonymous)" alone says little.
  const stack: [SamplingHeapProfileNode, string][] = [[profile.head, '']]
  while (stack.length > 0) {
    const [node, caller] = stack.pop()!
    const own = siteName(node.callFrame, options.root)
    if (node.selfSize > 0) {
      const name = caller === '' ? own : `${own} ← ${caller}`
      bySite.set(name, (bySite.get(name) ?? 0) + node.selfSize)
      totalBytes += node.selfSize
    }
    for (const child of node.children) stack.push([child, own])
  }
  const sites = [...bySite]
    .map(([name, bytes]) => ({ name, bytes }))
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, options.top ?? 15)
  return { totalBytes, sites }
}

function siteName(frame: SamplingHeapProfileNode['callFrame'], root: string | undefined): string {
  const name = frame.functionName || '(anonymous)'
  if (frame.url === '') return name
  let file = frame.url.replace(/^file:\/\//, '')
  if (root !== undefined && file.startsWith(`${root}/`)) file = file.slice(root.length + 1)
  return `${name} (${file}:${frame.lineNumber + 1}:${frame.columnNumber + 1})`
}

/** A sampling heap profile of this process, garbage included, between start() and stop(). */
export class AllocationSampler {
  private readonly session = new Session()

  /** Samples about every `samplingIntervalBytes` allocated (V8's default is 32 KiB). */
  async start(samplingIntervalBytes = 4096): Promise<void> {
    this.session.connect()
    await this.post('HeapProfiler.enable')
    await this.post('HeapProfiler.startSampling', {
      samplingInterval: samplingIntervalBytes,
      includeObjectsCollectedByMinorGC: true,
      includeObjectsCollectedByMajorGC: true,
    })
  }

  async stop(): Promise<SamplingHeapProfile> {
    try {
      const { profile } = (await this.post('HeapProfiler.stopSampling')) as {
        profile: SamplingHeapProfile
      }
      return profile
    } finally {
      this.session.disconnect()
    }
  }

  private post(method: string, params?: object): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.session.post(method, params, (error, result) => (error ? reject(error) : resolve(result)))
    })
  }
}
