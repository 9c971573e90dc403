/**
 * The conformance cases of the language (specs/conformance/<case>/), run end to end: each case's
 * `case.pipe` is compiled to an artifact, its `input.<source>.jsonl` lines are appended to the
 * source topics of an embedded log, the artifact runs until caught up, and what every sink wrote
 * must equal `expected.<topic>.jsonl` (`expected.stdout.jsonl` for the stdout sink), line by line
 * as JSON. Optional: `expected.keys.<topic>.jsonl` (one JSON key per line),
 * `expected.timestamps.<topic>.jsonl` (one ISO-8601 record timestamp per line, or "append" for a
 * timestamp the log stamped during the run) and
 * `expected.dead-letters.jsonl` (`{"source": name, "line": n, "reason": regex}` per dead letter,
 * in order; `line` is 1-based in that source's input file).
 *
 * The same inputs also go through the reference interpreter (unfused, unoptimised), which must
 * produce the same sink values (and, for sinks of event-time records, the same timestamps): both
 * implementations of the semantics pass every case. The interpreter reads the sources' events in
 * the order `input.order` gives (one source name per line: the source whose next event comes
 * next), or, without that file, each source's file after the other's.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { checkSource } from '../compiler/frontend.ts'
import { createInterpreter } from '../compiler/ir/interpret.ts'
import { loadArtifact } from '../runtime/artifact/load.ts'
import type { RuntimeManifest } from '../runtime/artifact/manifest.ts'
import type { OperatorModule, Operators } from '../runtime/artifact/operators.ts'
import { EmbeddedLog } from '../runtime/log/embedded.ts'
import { MetricsRegistry } from '../runtime/metrics/registry.ts'
import {
  DEAD_LETTER_HEADERS,
  DEFAULT_DEAD_LETTER_TOPIC,
  PipelineRunner,
} from '../runtime/node/pipeline-runner.ts'
import { FileSnapshotStore } from '../runtime/state/file-snapshot-store.ts'
import { EvaluationError } from '../stdlib/eval-error.ts'
import { stdlib } from '../stdlib/index.ts'
import { compileFixture } from '../test/support/compile-fixture.ts'

const CASES = join(import.meta.dirname, 'conformance')

function lines(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
}

/** The JSON text with insignificant whitespace removed; key order is kept. */
function canonicalJson(text: string): string {
  return JSON.stringify(JSON.parse(text))
}

function jsonLines(file: string): unknown[] {
  return lines(file).map((line) => JSON.parse(line) as unknown)
}

/** The operators of a compiled artifact's generated module, without the runtime's checks of its manifest. */
async function generatedOperators(artifactDir: string): Promise<Operators> {
  const manifest = JSON.parse(readFileSync(join(artifactDir, 'manifest.json'), 'utf8')) as RuntimeManifest
  const module = (await import(
    pathToFileURL(join(artifactDir, manifest.files.module)).href
  )) as OperatorModule
  return module.instantiate({ stdlib, EvaluationError })
}

/**
 * The events of all inputs in the order the interpreter reads them: as `input.order` interleaves
 * them, or file after file (specs/language.md, §10).
 */
function interleaving(
  dir: string,
  inputs: readonly { source: string; file: string }[],
): { source: string; line: string }[] {
  const queues = new Map(inputs.map(({ source, file }) => [source, lines(file)]))
  const orderFile = join(dir, 'input.order')
  if (!existsSync(orderFile)) {
    return inputs.flatMap(({ source }) => queues.get(source)!.map((line) => ({ source, line })))
  }
  const order = lines(orderFile).map((line) => {
    const source = line.trim()
    const next = queues.get(source)?.shift()
    if (next === undefined) throw new Error(`input.order names ${source} once more than it has events`)
    return { source, line: next }
  })
  for (const [source, rest] of queues) {
    if (rest.length > 0) throw new Error(`input.order leaves ${rest.length} event(s) of ${source} unread`)
  }
  return order
}

const cases = existsSync(CASES)
  ? readdirSync(CASES).filter((name) => existsSync(join(CASES, name, 'case.pipe')))
  : []

describe('conformance cases', () => {
  it('exist', () => {
    expect(cases.length).toBeGreaterThanOrEqual(10)
  })

  for (const name of cases) {
    const dir = join(CASES, name)
    const text = readFileSync(join(dir, 'case.pipe'), 'utf8')
    const files = readdirSync(dir)
    const inputs = files
      .filter((f) => /^input\..+\.jsonl$/.test(f))
      .map((f) => ({ source: f.slice(6, -6), file: join(dir, f) }))
    const expectedOutputs = files
      .filter(
        (f) =>
          /^expected\..+\.jsonl$/.test(f) &&
          !f.startsWith('expected.keys.') &&
          !f.startsWith('expected.timestamps.') &&
          f !== 'expected.dead-letters.jsonl',
      )
      .map((f) => ({ target: f.slice(9, -6), file: join(dir, f) }))

    // With `input.order`, the log must hand the runner the events in that order too (a join's
    // results depend on how its two inputs interleave): each is appended once the runner has
    // committed the one before, with a checkpoint at every batch.
    const ordered = existsSync(join(dir, 'input.order'))
    it(`${name}: the compiled artifact on the embedded log`, async () => {
      const artifactDir = await compileFixture(text, name, `${name}/case.pipe`)
      const artifact = await loadArtifact(artifactDir)
      const dataDir = await mkdtemp(join(tmpdir(), `sluice-conformance-${name}-`))
      const log = await EmbeddedLog.open(dataDir, { fsync: 'never' })
      // Stateful steps snapshot their state; a case's store lives and dies with its data directory.
      const stateStore = new FileSnapshotStore(join(dataDir, 'state'), { fsync: false })
      try {
        const topicOf = (source: string): string => {
          const input = artifact.manifest.inputs.find((i) => i.source === source)
          expect(input, `input.${source}.jsonl names no source of the case`).toBeDefined()
          if (input?.connector.kind !== 'kafka') throw new Error(`source ${source} is not a kafka() source`)
          return input.connector.topic
        }
        for (const { source, file } of inputs) {
          await log.ensureTopic(topicOf(source))
          if (ordered) continue
          await log.append(
            topicOf(source),
            lines(file).map((line) => ({ key: null, value: Buffer.from(line) })),
          )
        }
        const stdout: string[] = []
        const runStarted = Date.now()
        const runner = await PipelineRunner.start({
          log,
          artifact,
          metrics: new MetricsRegistry(),
          stdout: (t) => void stdout.push(t),
          stateStore,
          ...(ordered ? { checkpointIntervalMs: 0 } : {}),
        })
        if (ordered) {
          for (const { source, line } of interleaving(dir, inputs)) {
            await log.append(topicOf(source), [{ key: null, value: Buffer.from(line) }])
            await runner.waitUntilCaughtUp(20_000)
          }
        }
        await runner.waitUntilCaughtUp(20_000)
        await runner.stop()
        await runner.done
        const runEnded = Date.now()

        const written = new Set<string>()
        for (const { target, file } of expectedOutputs) {
          written.add(target)
          const actual =
            target === 'stdout'
              ? stdout.join('').split('\n').filter(Boolean)
              : (await log.read(target, 0, 0, 100_000)).map((r) => r.value.toString())
          // Compared as JSON text with whitespace normalised: field order is part of the output
          // format (specs/language.md), so a parsed deep-equal would not be enough.
          expect(actual.map(canonicalJson), `sink ${target}`).toEqual(lines(file).map(canonicalJson))
          const keysFile = join(dir, `expected.keys.${target}.jsonl`)
          if (existsSync(keysFile)) {
            expect(
              (await log.read(target, 0, 0, 100_000)).map((r) => r.key),
              `keys of ${target}`,
            ).toEqual(jsonLines(keysFile))
          }
          const timestampsFile = join(dir, `expected.timestamps.${target}.jsonl`)
          if (existsSync(timestampsFile)) {
            const modes = new Set(
              artifact.manifest.graph.nodes.flatMap((n) =>
                n.kind === 'Sink' && n.connector.kind === 'kafka' && n.connector.topic === target
                  ? [n.recordTimestamp]
                  : [],
              ),
            )
            expect(
              modes.size,
              `expected.timestamps.${target}.jsonl needs kafka() sinks of one record-timestamp mode`,
            ).toBe(1)
            // An append time is the clock's at the append: all a case can say is that it fell
            // within the run (its event times lie far outside it, so they cannot pass for one).
            const appended = modes.has('append')
            expect(
              (await log.read(target, 0, 0, 100_000)).map((r) =>
                appended && r.timestamp >= runStarted && r.timestamp <= runEnded
                  ? 'append'
                  : new Date(r.timestamp).toISOString(),
              ),
              `record timestamps of ${target}`,
            ).toEqual(jsonLines(timestampsFile))
          }
        }
        // Every sink of the case is checked: a sink with no expected file would go unverified.
        for (const output of artifact.manifest.graph.nodes.filter((n) => n.kind === 'Sink')) {
          const target = output.connector.kind === 'stdout' ? 'stdout' : output.connector.topic
          expect(written.has(target), `no expected.${target}.jsonl for a sink of ${name}`).toBe(true)
        }

        const deadFile = join(dir, 'expected.dead-letters.jsonl')
        const dead = (await log.partitions(DEFAULT_DEAD_LETTER_TOPIC).then(
          () => log.read(DEFAULT_DEAD_LETTER_TOPIC, 0, 0, 100_000),
          () => [],
        )) as Awaited<ReturnType<typeof log.read>>
        const expectedDead = existsSync(deadFile)
          ? (jsonLines(deadFile) as { source: string; line: number; reason: string }[])
          : []
        expect(dead.length, 'dead letters').toBe(expectedDead.length)
        expectedDead.forEach((expected, i) => {
          const record = dead[i]!
          const input = artifact.manifest.inputs.find((x) => x.source === expected.source)!
          expect(record.headers[DEAD_LETTER_HEADERS.topic]).toBe(
            input.connector.kind === 'kafka' ? input.connector.topic : '',
          )
          expect(record.headers[DEAD_LETTER_HEADERS.offset]).toBe(String(expected.line - 1))
          expect(record.headers[DEAD_LETTER_HEADERS.reason]).toMatch(new RegExp(expected.reason))
        })
      } finally {
        await stateStore.close()
        await log.close()
        await rm(dataDir, { recursive: true, force: true })
      }
    })

    it(`${name}: the reference interpreter agrees`, async () => {
      const { pipeline } = checkSource(`${name}/case.pipe`, text)
      if (!pipeline) throw new Error(`${name} does not check`)
      // Decoding is the runtime's job; reuse the artifact's generated decoders for the interpreter's
      // input, from its module alone (a join case's manifest is one the runtime refuses for now).
      const artifact = {
        operators: await generatedOperators(await compileFixture(text, name, `${name}/case.pipe`)),
      }
      const outputs = new Map<string, string[]>()
      const timestamps = new Map<string, string[]>()
      const interpreter = createInterpreter(pipeline, {
        functions: stdlib,
        onSink: ({ sinkId, value, timestamp }) => {
          const sink = pipeline.nodes.find((n) => n.id === sinkId)
          const target =
            sink?.kind === 'Sink' && sink.connector.kind === 'kafka' ? sink.connector.topic : 'stdout'
          const encode = artifact.operators.sinks[sinkId]!.encode as (v: unknown) => string
          let json: string
          try {
            json = encode(value)
          } catch {
            return // encoding is the runtime's job too: it dead-letters what cannot be written
          }
          outputs.set(target, [...(outputs.get(target) ?? []), canonicalJson(json)])
          // The event time the interpreter carries is the record timestamp of an event-time sink.
          if (sink?.kind === 'Sink' && sink.recordTimestamp === 'event') {
            timestamps.set(target, [...(timestamps.get(target) ?? []), new Date(timestamp).toISOString()])
          }
        },
        onError: () => {},
      })
      for (const { source, line } of interleaving(dir, inputs)) {
        const decoder = artifact.operators.sources[source]!
        let value: unknown
        try {
          value = decoder.decode(JSON.parse(line))
        } catch {
          continue // dead-lettered by the runtime; the interpreter never sees it
        }
        const timestamp = decoder.eventTime ? decoder.eventTime(value as never) : 0
        interpreter.push(source, { value: value as Record<string, unknown>, key: null, timestamp })
      }
      for (const { target, file } of expectedOutputs) {
        expect(outputs.get(target) ?? [], `sink ${target}`).toEqual(lines(file).map(canonicalJson))
        const timestampsFile = join(dir, `expected.timestamps.${target}.jsonl`)
        const eventTimeSink = pipeline.nodes.some(
          (n) =>
            n.kind === 'Sink' &&
            n.recordTimestamp === 'event' &&
            n.connector.kind === 'kafka' &&
            n.connector.topic === target,
        )
        if (existsSync(timestampsFile) && eventTimeSink) {
          expect(timestamps.get(target) ?? [], `event times sunk to ${target}`).toEqual(
            jsonLines(timestampsFile),
          )
        }
      }
    })
  }
})
