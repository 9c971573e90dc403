import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { compileSource } from '../compile.ts'
import { type Artifact, ArtifactOutputError, MANIFEST_FILE, MODULE_FILE, writeArtifact } from './package.ts'

const PIPE = `schema E { id: string }
source e: E from kafka("in")
sink e -> kafka("out")
`

let root: string

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'sluice-package-'))
})
afterEach(async () => {
  await rm(root, { recursive: true, force: true })
})

/** Compiles PIPE as if from `sourceFile` (an absolute path, so the working directory plays no part). */
function artifactOf(sourceFile: string): Artifact {
  const result = compileSource(sourceFile, PIPE, { name: 'e' })
  if (!result.artifact) throw new Error(result.diagnostics.map((d) => d.message).join('\n'))
  return result.artifact
}

async function expectRefused(write: Promise<void>, reason: RegExp): Promise<void> {
  const error = await write.then(
    () => null,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(ArtifactOutputError)
  expect((error as Error).message).toMatch(reason)
}

describe('writeArtifact', () => {
  const source = () => join(root, 'src', 'e.pipe')
  const cwd = () => join(root, 'work')

  it('writes a new directory, fills an empty one and replaces an earlier artifact', async () => {
    const artifact = artifactOf(source())
    const fresh = join(root, 'out', 'nested', 'e')
    await writeArtifact(artifact, fresh, { cwd: cwd() })
    expect((await readdir(fresh)).sort()).toEqual([...artifact.files.keys()].sort())

    const empty = join(root, 'empty')
    await mkdir(empty)
    await writeArtifact(artifact, empty, { cwd: cwd() })
    expect(await readFile(join(empty, MODULE_FILE), 'utf8')).toBe(artifact.files.get(MODULE_FILE))

    await writeFile(join(fresh, 'stale.mjs'), 'old')
    await writeArtifact(artifact, fresh, { cwd: cwd() })
    expect(await readdir(fresh)).not.toContain('stale.mjs')
    expect(JSON.parse(await readFile(join(fresh, MANIFEST_FILE), 'utf8')).contentHash).toBe(
      artifact.manifest.contentHash,
    )
    expect((await readdir(root)).filter((n) => n.includes('.tmp-'))).toEqual([])
  })

  it('refuses a non-empty directory that is not an artifact and leaves it untouched', async () => {
    const project = join(root, 'project')
    await mkdir(project)
    await writeFile(join(project, 'notes.txt'), 'precious')
    await expectRefused(
      writeArtifact(artifactOf(source()), project, { cwd: cwd() }),
      /refusing to replace .*project.*not empty.*not a Sluice artifact/s,
    )
    expect(await readdir(project)).toEqual(['notes.txt'])
    expect(await readFile(join(project, 'notes.txt'), 'utf8')).toBe('precious')
    expect((await readdir(root)).filter((n) => n.includes('.tmp-'))).toEqual([])
  })

  it('refuses a directory whose manifest.json is not a Sluice artifact manifest', async () => {
    const other = join(root, 'other')
    await mkdir(other)
    await writeFile(join(other, MANIFEST_FILE), JSON.stringify({ format: 'something-else' }))
    await expectRefused(writeArtifact(artifactOf(source()), other, { cwd: cwd() }), /not a Sluice artifact/)
    const broken = join(root, 'broken')
    await mkdir(broken)
    await writeFile(join(broken, MANIFEST_FILE), '{ not json')
    await expectRefused(writeArtifact(artifactOf(source()), broken, { cwd: cwd() }), /not a Sluice artifact/)
    expect(await readdir(broken)).toEqual([MANIFEST_FILE])
  })

  it('refuses a path that is a file', async () => {
    const file = join(root, 'file')
    await writeFile(file, 'data')
    await expectRefused(writeArtifact(artifactOf(source()), file, { cwd: cwd() }), /not a directory/)
    expect(await readFile(file, 'utf8')).toBe('data')
  })

  it('refuses the working directory and its ancestors, even when they hold an artifact', async () => {
    const artifact = artifactOf(source())
    const work = cwd()
    await writeArtifact(artifact, work, { cwd: root }) // an artifact directory now
    await expectRefused(writeArtifact(artifact, work, { cwd: work }), /current directory/)
    await expectRefused(writeArtifact(artifact, join(work, 'sub', '..'), { cwd: work }), /current directory/)
    await expectRefused(writeArtifact(artifact, work, { cwd: join(work, 'deeper') }), /current directory/)
    expect(await readFile(join(work, MANIFEST_FILE), 'utf8')).toBe(artifact.files.get(MANIFEST_FILE))
  })

  it('refuses any ancestor of the .pipe file, even one that holds an artifact', async () => {
    const artifactDir = join(root, 'a')
    const pipe = join(artifactDir, 'src', 'e.pipe')
    const artifact = artifactOf(pipe)
    await writeArtifact(artifact, artifactDir, { cwd: cwd(), sourceFile: source() })
    await mkdir(join(artifactDir, 'src'))
    await writeFile(pipe, PIPE)
    await expectRefused(
      writeArtifact(artifact, artifactDir, { cwd: cwd(), sourceFile: pipe }),
      /contains the source file/,
    )
    await expectRefused(
      writeArtifact(artifact, join(artifactDir, 'src'), { cwd: cwd(), sourceFile: pipe }),
      /source file/,
    )
    expect(await readFile(pipe, 'utf8')).toBe(PIPE)
  })
})

describe('artifact id', () => {
  // Issue 17: `sluice compile examples/x.pipe` and `cd examples && sluice compile x.pipe` compile one
  // pipeline, so they must give one content-addressed id.
  const failing = `schema E { id: string, n: i64 }
source e: E from kafka("in")
stream s = e | select { id, q: 100 / n, r: sqrt(to_f64(n)) }
sink s -> kafka("out")
`
  const compiled = (file: string) => {
    const result = compileSource(file, failing, { name: 'x' })
    if (!result.artifact) throw new Error(result.diagnostics.map((d) => d.message).join('\n'))
    return result.artifact
  }

  it('depends on the content of the .pipe, not on the path it was compiled by', () => {
    const ids = ['x.pipe', 'examples/x.pipe', '/abs/where/ever/x.pipe', './x.pipe'].map(
      (file) => compiled(file).manifest.contentHash,
    )
    expect(new Set(ids).size).toBe(1)
    const artifact = compiled('/abs/where/ever/x.pipe')
    expect(artifact.manifest.source.file).toBe('x.pipe')
    // Neither the manifest nor the generated code keeps the directory.
    for (const [name, content] of artifact.files) expect(content, name).not.toContain('/abs/where')
  })

  it('still changes with the content, and with the file name', () => {
    expect(compiled('x.pipe').manifest.contentHash).not.toBe(
      compileSource('x.pipe', failing.replace('100 / n', '101 / n'), { name: 'x' }).artifact!.manifest
        .contentHash,
    )
    expect(compiled('a/x.pipe').manifest.contentHash).not.toBe(compiled('a/y.pipe').manifest.contentHash)
  })

  it('reports diagnostics at the path given', () => {
    const result = compileSource('examples/x.pipe', failing.replace('sqrt(to_f64(n))', 'nope'), { name: 'x' })
    expect(result.diagnostics.map((d) => d.span.file)).toEqual(['examples/x.pipe'])
  })
})

describe('manifest graph of stateful steps', () => {
  const stateOf = (text: string) => {
    const result = compileSource('/src/s.pipe', text, { name: 's' })
    if (!result.artifact) throw new Error(result.diagnostics.map((d) => d.message).join('\n'))
    const manifest = JSON.parse(result.artifact.files.get(MANIFEST_FILE)!) as {
      graph: { nodes: { kind: string; state?: unknown }[] }
    }
    return manifest.graph.nodes.filter((n) => n.kind === 'Fused').map((n) => n.state ?? null)
  }

  it('declares a Fused node state slot per stateful step, with ids that survive unrelated edits', () => {
    const text = `schema E { id: string, n: i64, ts: timestamp @event_time }
source e: E from kafka("in")
stream totals = e | dedup by id within 1h | aggregate by id { n: count(), total: sum(n) }
stream plain = e | where n > 0
sink totals -> kafka("out")
sink plain -> kafka("plain")
`
    const slots = stateOf(text)
    expect(slots).toEqual([
      [
        { id: expect.stringMatching(/^totals\.dedup\.0\.[0-9a-f]{8}$/), step: 'dedup', ttlMs: 3_600_000 },
        { id: expect.stringMatching(/^totals\.aggregate\.0\.[0-9a-f]{8}$/), step: 'aggregate', ttlMs: null },
      ],
      null,
    ])
    const edited = text.replace(
      '| dedup by id within 1h |',
      '| where n != 3 | dedup by id within 1h | key by id |',
    )
    expect(stateOf(edited)).toEqual(slots)
  })
})
