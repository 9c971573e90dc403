import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'

/**
 * The artifact is the only contract between compiler and runtime (docs/architecture.md):
 * production code in runtime/ never imports compiler/, compiler/ never imports runtime/, and
 * stdlib/ imports neither. Tests may use test/support to compile fixtures.
 */
const ROOT = join(import.meta.dirname, '..')

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sourceFiles(path)
    return name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.generated.ts') ? [path] : []
  })
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  return [
    ...text.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g),
  ].map((m) => m[1] ?? m[2]!)
}

function violations(folder: string, forbidden: readonly string[]): string[] {
  return sourceFiles(join(ROOT, folder)).flatMap((file) =>
    importsOf(file)
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => relative(ROOT, join(file, '..', spec)))
      .filter((target) => forbidden.some((f) => target.startsWith(`${f}/`)))
      .map((target) => `${relative(ROOT, file)} imports ${target}`),
  )
}

describe('module boundaries', () => {
  it('runtime/ does not import compiler/', () => {
    expect(violations('runtime', ['compiler', 'cli'])).toEqual([])
  })
  it('compiler/ does not import runtime/', () => {
    expect(violations('compiler', ['runtime', 'cli'])).toEqual([])
  })
  it('sees imports at all (cli/ legitimately imports both sides)', () => {
    expect(violations('cli', ['runtime']).length).toBeGreaterThan(0)
    expect(violations('cli', ['compiler']).length).toBeGreaterThan(0)
  })
  it('stdlib/ imports neither', () => {
    expect(violations('stdlib', ['runtime', 'compiler', 'cli'])).toEqual([])
  })
})
