import { describe, expect, it } from 'vitest'
import { type CpuProfile, componentOf, describeFrame, summarizeProfile } from './cpu-profile.ts'

const frame = (functionName: string, url = '', lineNumber = -1) => ({
  functionName,
  url,
  lineNumber,
  columnNumber: 0,
})

/** root → idle, gc, parse (builtin), decode (runner), send (kafkajs), chain (generated). */
function profile(): CpuProfile {
  return {
    nodes: [
      { id: 1, callFrame: frame('(root)'), children: [2, 3, 4, 5, 6, 7] },
      { id: 2, callFrame: frame('(idle)') },
      { id: 3, callFrame: frame('(garbage collector)') },
      { id: 4, callFrame: frame('parse') },
      { id: 5, callFrame: frame('decode', 'file:///repo/runtime/node/pipeline-runner.ts', 219) },
      { id: 6, callFrame: frame('send', 'file:///repo/node_modules/kafkajs/src/producer/index.js', 9) },
      { id: 7, callFrame: frame('', 'file:///tmp/elsewhere/operators.js', 3) },
    ],
    startTime: 1_000,
    endTime: 2_000,
    // Times (start + running sum): 1100 1200 1300 1400 1500 1600 1700 1800 1900 2000.
    samples: [2, 2, 4, 4, 4, 5, 3, 6, 7, 2],
    timeDeltas: [100, 100, 100, 100, 100, 100, 100, 100, 100, 100],
  }
}

describe('componentOf / describeFrame', () => {
  it('groups frames by where their code lives', () => {
    expect(componentOf(frame('(idle)'))).toBe('idle (waiting for I/O)')
    expect(componentOf(frame('(garbage collector)'))).toBe('garbage collector')
    expect(componentOf(frame('stringify'))).toBe('V8 builtin: stringify')
    expect(componentOf(frame('x', 'file:///r/node_modules/kafkajs/src/a.js'))).toBe('kafkajs')
    expect(componentOf(frame('x', 'file:///r/node_modules/@scope/pkg/a.js'))).toBe('package @scope/pkg')
    expect(componentOf(frame('x', 'node:internal/fs/promises'))).toBe('node core (internal)')
    expect(componentOf(frame('x', 'file:///r/runtime/log/embedded/segment.ts'))).toBe(
      'embedded log (runtime/log/embedded*)',
    )
    expect(componentOf(frame('x', 'file:///tmp/elsewhere/a.js'))).toBe(
      'other JS (generated artifact code, …)',
    )
    expect(componentOf(frame('x', 'file:///tmp/sluice-artifact-Ab1/payments/operators.mjs?hash=1'))).toBe(
      'generated artifact code (operators.mjs)',
    )
  })

  it('names functions with 1-based lines, relative to a root', () => {
    expect(describeFrame(frame('encode1', 'file:///repo/x/ops.mjs', 97), '/repo')).toBe(
      'encode1 (x/ops.mjs:98)',
    )
    // tsx-transformed TypeScript: the profile's line numbers are not the source's.
    expect(describeFrame(frame('decode', 'file:///repo/runtime/node/pipeline-runner.ts', 219), '/repo')).toBe(
      'decode (runtime/node/pipeline-runner.ts)',
    )
    expect(
      describeFrame(frame('encode1', 'file:///tmp/sluice-artifact-Ab1/payments/operators.mjs?hash=9', 97)),
    ).toBe('encode1 (<artifact>/operators.mjs:98)')
    expect(describeFrame(frame('', 'file:///x/node_modules/kafkajs/src/a.js', 0))).toBe(
      '(anonymous) (node_modules/kafkajs/src/a.js:1)',
    )
    expect(describeFrame(frame('parse'))).toBe('parse')
  })
})

describe('summarizeProfile', () => {
  it('charges each sample its time delta and ranks functions and components by self time', () => {
    const s = summarizeProfile(profile(), { root: '/repo' })
    expect(s.totalUs).toBe(1_000)
    expect(s.idleUs).toBe(300)
    expect(s.windowed).toBe(false)
    expect(s.functions[0]).toEqual({ name: 'parse', selfUs: 300, share: 0.3, busyShare: 300 / 700 })
    expect(s.functions.map((f) => f.name)).not.toContain('(idle)')
    const components = Object.fromEntries(s.components.map((c) => [c.name, c.selfUs]))
    expect(components).toEqual({
      'idle (waiting for I/O)': 300,
      'V8 builtin: parse': 300,
      'garbage collector': 100,
      'pipeline runner (runtime/node/pipeline-runner.ts)': 100,
      kafkajs: 100,
      'other JS (generated artifact code, …)': 100,
    })
    expect(s.components.find((c) => c.name === 'idle (waiting for I/O)')!.busyShare).toBe(0)
    expect(summarizeProfile(profile(), { top: 2 }).functions).toHaveLength(2)
  })

  it('keeps only the samples inside a window', () => {
    const s = summarizeProfile(profile(), { window: { startUs: 1_250, endUs: 1_650 } })
    expect(s.windowed).toBe(true)
    expect(s.totalUs).toBe(400) // samples at 1300, 1400, 1500, 1600
    expect(s.functions.map((f) => [f.name, f.selfUs])).toEqual([
      ['parse', 300],
      ['decode (/repo/runtime/node/pipeline-runner.ts)', 100],
    ])
  })

  it('falls back to the whole profile when no sample is in the window', () => {
    const s = summarizeProfile(profile(), { window: { startUs: 5_000, endUs: 6_000 } })
    expect(s.windowed).toBe(false)
    expect(s.totalUs).toBe(1_000)
  })
})
