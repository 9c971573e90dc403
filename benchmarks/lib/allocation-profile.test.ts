import { describe, expect, it } from 'vitest'
import { AllocationSampler, type SamplingHeapProfile, summarizeAllocations } from './allocation-profile.ts'

const frame = (functionName: string, url = '', lineNumber = 0) => ({
  functionName,
  url,
  lineNumber,
  columnNumber: 4,
})

describe('summarizeAllocations', () => {
  it('sums self bytes per function and caller, heaviest first, paths relative to the root', () => {
    const profile: SamplingHeapProfile = {
      head: {
        callFrame: frame('(root)'),
        selfSize: 0,
        children: [
          {
            callFrame: frame('handle', 'file:///repo/runtime/a.ts', 9),
            selfSize: 100,
            children: [
              { callFrame: frame('', 'file:///repo/runtime/b.ts', 2), selfSize: 700, children: [] },
              { callFrame: frame('', 'file:///repo/runtime/b.ts', 2), selfSize: 50, children: [] },
            ],
          },
          { callFrame: frame('parse'), selfSize: 300, children: [] },
        ],
      },
    }
    const summary = summarizeAllocations(profile, { root: '/repo', top: 2 })
    expect(summary.totalBytes).toBe(1150)
    expect(summary.sites).toEqual([
      { name: '(anonymous) (runtime/b.ts:3:5) ← handle (runtime/a.ts:10:5)', bytes: 750 },
      { name: 'parse ← (root)', bytes: 300 },
    ])
  })
})

describe('AllocationSampler', () => {
  it('keeps what was allocated and collected while it sampled', async () => {
    const sampler = new AllocationSampler()
    await sampler.start(1024)
    let kept = 0
    // About 8 MB of short-lived arrays, dropped at once: a profile without collected objects shows none.
    function makeGarbage(): void {
      for (let i = 0; i < 20_000; i++) kept += new Array(50).fill(i).length
    }
    makeGarbage()
    const summary = summarizeAllocations(await sampler.stop(), { top: 100 })
    expect(kept).toBe(1_000_000)
    const own = summary.sites.filter((site) => site.name.startsWith('makeGarbage'))
    expect(own.reduce((sum, site) => sum + site.bytes, 0)).toBeGreaterThan(4_000_000)
  })
})
