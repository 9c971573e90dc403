/**
 * The conformance cases of the language (specs/conformance/<case>/), run end to end: each case's
 * `case.pipe` is compiled to an artifact, its `input.<source>.jsonl` lines are appended to the
 * source topics of an embedded log, the artifact runs until caught up, and what every sink wrote
 * must equal `expected.<topic>.jsonl` (`expected.stdout.jsonl` for the stdout sink), line by line
 * as JSON. Optional: `expected.keys.<topic>.jsonl` (one JSON key per line),
 * `expected.headers.<topic>.jsonl` (one JSON object of the record's headers per line, without `sluice.*`),
 * `expected.timestamps.<topic>.jsonl` (one ISO-8601 record timestamp per line, or "append" for a
 * timestamp the log stamped during the run) and
 * `expected.dead-letters.jsonl` (`{"source": name, "line": n, "reason": regex}` per dead letter,
 * in order; `line` is 1-based in that source's input file).
 *
 * Tables (specs/language.md §10): `input.<table>.jsonl` holds the records of a table's topic (a
 * line `null` is a tombstone), with their record keys in `input.keys.<table>.jsonl` when given
 * (one JSON string or null per line; null for all without it). Inputs are appended in phases:
 * those of `phases.jsonl` when the case has one (`{"input": name, "lines": n}` per line: the next n
 * lines of that input), else every table's records, then every source's events, all before the
 * runner starts. With phases, the runner starts with the first phase of a source, so it holds the
 * tables appended before; each later phase is processed before the next is appended (a table
 * phase: until the table has read its records). The interpreter gets the phases in the same order.
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
import { artifactSourceName, refileSpans } from '../compiler/artifact/source-name.ts'
import { checkSource } from '../compiler/frontend.ts'
import { createInterpreter, type FunctionTable } from '../compiler/ir/interpret.ts'
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
import { unwritableRecordText } from '../runtime/text/record-text.ts'
import { EvaluationError } from '../stdlib/eval-error.ts'
import { stdlib } from '../stdlib/index.ts'
import { bindUdfs } from '../stdlib/udf.ts'
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

/** A record's headers without the node's own (`sluice.artifact`, …), as `expected.headers.*` lists them. */
function userHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !name.startsWith('sluice.')))
}

function jsonLines(file: string): unknown[] {
  return lines(file).map((line) => JSON.parse(line) as unknown)
}

/**
 * The operators of a compiled artifact's generated module, without the runtime's checks of its
 * manifest, and the functions they call: the stdlib and the artifact's imported functions.
 */
async function generatedOperators(
  artifactDir: string,
): Promise<{ operators: Operators; functions: FunctionTable }> {
  const manifest = JSON.parse(readFileSync(join(artifactDir, 'manifest.json'), 'utf8')) as RuntimeManifest
  const module = (await import(
    pathToFileURL(join(artifactDir, manifest.files.module)).href
  )) as OperatorModule
  const udfs =
    manifest.files.udfs === undefined
      ? {}
      : bindUdfs(
          (await import(pathToFileURL(join(artifactDir, manifest.files.udfs)).href)) as Record<
            string,
            unknown
          >,
          Object.values(manifest.graph.udfs ?? {}),
        )
  const functions = { ...stdlib, ...udfs }
  return { operators: module.instantiate({ stdlib: functions, EvaluationError }), functions }
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
      .filter((f) => /^input\..+\.jsonl$/.test(f) && !/^input\.(keys|headers|timestamps)\./.test(f))
      .map((f) => ({ source: f.slice(6, -6), file: join(dir, f) }))
    /** The record keys of an input's lines: `input.keys.<name>.jsonl`, or null for every line. */
    const recordKeys = (source: string, count: number): (string | null)[] => {
      const keysFile = join(dir, `input.keys.${source}.jsonl`)
      return existsSync(keysFile) ? (jsonLines(keysFile) as (string | null)[]) : new Array(count).fill(null)
    }
    /** The record headers of an input's lines: `input.headers.<name>.jsonl`, or none. */
    const recordHeaders = (source: string): Record<string, string>[] | null => {
      const file = join(dir, `input.headers.${source}.jsonl`)
      return existsSync(file) ? (jsonLines(file) as Record<string, string>[]) : null
    }
    /** The record timestamps of an input's lines: `input.timestamps.<name>.jsonl`, or null (append time). */
    const recordTimestamps = (source: string): number[] | null => {
      const file = join(dir, `input.timestamps.${source}.jsonl`)
      return existsSync(file) ? (jsonLines(file) as string[]).map((iso) => Date.parse(iso)) : null
    }
    /** The phases inputs are appended in, each the lines [from, to) of one input (§10). */
    const phases = (tables: ReadonlySet<string>): { input: string; from: number; to: number }[] => {
      const phasesFile = join(dir, 'phases.jsonl')
      const orderFile = join(dir, 'input.order')
      if (existsSync(orderFile)) {
        // One source name per line: the source whose next event comes next, one event a phase.
        const next = new Map<string, number>()
        const order = lines(orderFile).map((line) => {
          const input = line.trim()
          const from = next.get(input) ?? 0
          if (from >= inputLines(input).length)
            throw new Error(`input.order names ${input} once more than it has events`)
          next.set(input, from + 1)
          return { input, from, to: from + 1 }
        })
        for (const { source, file } of inputs) {
          const left = lines(file).length - (next.get(source) ?? 0)
          if (left > 0) throw new Error(`input.order leaves ${left} event(s) of ${source} unread`)
        }
        return order
      }
      if (!existsSync(phasesFile)) {
        const ordered = [
          ...inputs.filter((i) => tables.has(i.source)),
          ...inputs.filter((i) => !tables.has(i.source)),
        ]
        return ordered.map(({ source, file }) => ({ input: source, from: 0, to: lines(file).length }))
      }
      const next = new Map<string, number>()
      return (jsonLines(phasesFile) as { input: string; lines: number }[]).map(({ input, lines: n }) => {
        const from = next.get(input) ?? 0
        next.set(input, from + n)
        return { input, from, to: from + n }
      })
    }
    const inputLines = (input: string): string[] => {
      const found = inputs.find((i) => i.source === input)
      if (!found) throw new Error(`phases.jsonl of ${name} names input ${input}, which has no input file`)
      return lines(found.file)
    }
    const expectedOutputs = files
      .filter(
        (f) =>
          /^expected\..+\.jsonl$/.test(f) &&
          !f.startsWith('expected.keys.') &&
          !f.startsWith('expected.timestamps.') &&
          !f.startsWith('expected.headers.') &&
          f !== 'expected.dead-letters.jsonl',
      )
      .map((f) => ({ target: f.slice(9, -6), file: join(dir, f) }))

    // With `phases.jsonl` or `input.order`, the runner must see the inputs in that order too (a
    // lookup's rows, a join's interleaving): each phase is appended once the runner has committed
    // the one before.
    const stepwise = existsSync(join(dir, 'phases.jsonl')) || existsSync(join(dir, 'input.order'))
    it(`${name}: the compiled artifact on the embedded log`, async () => {
      const artifactDir = await compileFixture(text, name, `${name}/case.pipe`, { udfBaseDir: dir })
      const artifact = await loadArtifact(artifactDir)
      const dataDir = await mkdtemp(join(tmpdir(), `sluice-conformance-${name}-`))
      const log = await EmbeddedLog.open(dataDir, { fsync: 'never' })
      // Stateful steps snapshot their state; a case's store lives and dies with its data directory.
      const stateStore = new FileSnapshotStore(join(dataDir, 'state'), { fsync: false })
      try {
        const tables = artifact.manifest.graph.tables ?? {}
        const topicOf = (source: string): string => {
          const input = artifact.manifest.inputs.find((i) => i.source === source) ?? tables[source]
          expect(input, `input.${source}.jsonl names no source or table of the case`).toBeDefined()
          if (input?.connector.kind !== 'kafka') throw new Error(`source ${source} is not a kafka() source`)
          return input.connector.topic
        }
        for (const { source } of inputs) await log.ensureTopic(topicOf(source))
        const stdout: string[] = []
        const runStarted = Date.now()
        const metrics = new MetricsRegistry()
        const start = () =>
          PipelineRunner.start({
            log,
            artifact,
            metrics,
            stdout: (t) => void stdout.push(t),
            stateStore,
            tablePollIntervalMs: 10,
            // Appended phase by phase, each caught up (committed) before the next: a checkpoint per batch.
            ...(stepwise ? { checkpointIntervalMs: 0 } : {}),
          })
        /** Resolves once the running node's table has read its first `count` records. */
        const tableRead = async (table: string, count: number) => {
          const deadline = Date.now() + 20_000
          for (;;) {
            const applied = metrics.find('sluice_table_updates_total')?.value({ table }) ?? 0
            const dead = await log.partitions(DEFAULT_DEAD_LETTER_TOPIC).then(
              () => log.read(DEFAULT_DEAD_LETTER_TOPIC, 0, 0, 100_000),
              () => [],
            )
            const refused = dead.filter((d) => d.headers[DEAD_LETTER_HEADERS.topic] === topicOf(table)).length
            if (applied + refused >= count) return
            if (Date.now() > deadline) throw new Error(`table ${table} did not read ${count} records`)
            await new Promise((r) => setTimeout(r, 10))
          }
        }
        let runner: PipelineRunner | null = null
        for (const phase of phases(new Set(Object.keys(tables)))) {
          const keys = recordKeys(phase.input, inputLines(phase.input).length)
          const headers = recordHeaders(phase.input)
          const times = recordTimestamps(phase.input)
          await log.append(
            topicOf(phase.input),
            inputLines(phase.input)
              .slice(phase.from, phase.to)
              .map((line, i) => ({
                key: keys[phase.from + i] ?? null,
                value: Buffer.from(line),
                ...(headers ? { headers: headers[phase.from + i]! } : {}),
                ...(times ? { timestamp: times[phase.from + i]! } : {}),
              })),
          )
          const isTable = Object.hasOwn(tables, phase.input)
          // Without phases.jsonl or input.order, everything is appended before the runner starts.
          if (!stepwise || (runner === null && isTable)) continue
          runner ??= await start()
          if (isTable) await tableRead(phase.input, phase.to)
          else await runner.waitUntilCaughtUp(20_000)
        }
        runner ??= await start()
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
          const headersFile = join(dir, `expected.headers.${target}.jsonl`)
          if (existsSync(headersFile)) {
            expect(
              (await log.read(target, 0, 0, 100_000)).map((r) => userHeaders(r.headers)),
              `headers of ${target}`,
            ).toEqual(jsonLines(headersFile))
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
          const input =
            artifact.manifest.inputs.find((x) => x.source === expected.source) ??
            artifact.manifest.graph.tables![expected.source]!
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
      const checked = checkSource(`${name}/case.pipe`, text, { udfBaseDir: dir }).pipeline
      if (!checked) throw new Error(`${name} does not check`)
      // Locations name the file by base name, as in an artifact (compiler/artifact/source-name.ts).
      const pipeline = refileSpans(checked, `${name}/case.pipe`, artifactSourceName(`${name}/case.pipe`))
      // Decoding is the runtime's job; reuse the artifact's generated decoders for the interpreter's
      // input, from its module alone (a join case's manifest is one the runtime refuses for now).
      const generated = await generatedOperators(
        await compileFixture(text, name, `${name}/case.pipe`, { udfBaseDir: dir }),
      )
      const artifact = { operators: generated.operators }
      const outputs = new Map<string, string[]>()
      const timestamps = new Map<string, string[]>()
      const headersOut = new Map<string, Record<string, string>[]>()
      /** The headers of the source record being pushed: outputs carry them on, like the runner's. */
      let pushedHeaders: Readonly<Record<string, string>> = {}
      const interpreter = createInterpreter(pipeline, {
        functions: generated.functions,
        onSink: ({ sinkId, value, key, timestamp, headers }) => {
          const sink = pipeline.nodes.find((n) => n.id === sinkId)
          const target =
            sink?.kind === 'Sink' && sink.connector.kind === 'kafka' ? sink.connector.topic : 'stdout'
          // A key or header the runtime cannot write as UTF-8 dead-letters the event there too.
          if (target !== 'stdout' && unwritableRecordText(key, headers) !== null) return
          const encode = artifact.operators.sinks[sinkId]!.encode as (v: unknown) => string
          let json: string
          try {
            json = encode(value)
          } catch {
            return // encoding is the runtime's job too: it dead-letters what cannot be written
          }
          outputs.set(target, [...(outputs.get(target) ?? []), canonicalJson(json)])
          headersOut.set(target, [
            ...(headersOut.get(target) ?? []),
            userHeaders({ ...pushedHeaders, ...headers }),
          ])
          // The event time the interpreter carries is the record timestamp of an event-time sink.
          if (sink?.kind === 'Sink' && sink.recordTimestamp === 'event') {
            timestamps.set(target, [...(timestamps.get(target) ?? []), new Date(timestamp).toISOString()])
          }
        },
        onError: () => {},
      })
      // The phases in order (§10): table records change the rows the later events look up.
      for (const phase of phases(new Set(Object.keys(pipeline.tables ?? {})))) {
        const all = inputLines(phase.input)
        const table = pipeline.tables?.[phase.input] ? phase.input : null
        if (table !== null) {
          const functions = artifact.operators.tables![table]!
          const keys = recordKeys(table, all.length)
          for (let i = phase.from; i < phase.to; i++) {
            const line = all[i]!
            if (line.trim() === 'null') {
              interpreter.updateTable(table, { kind: 'tombstone', key: keys[i] ?? null })
              continue
            }
            let value: unknown
            try {
              value = functions.decodeJson!(Buffer.from(line, 'utf8'))
            } catch {
              continue // dead-lettered by the runtime; the interpreter never sees it
            }
            interpreter.updateTable(table, { kind: 'row', value: value as Record<string, unknown> })
          }
          continue
        }
        const decoder = artifact.operators.sources[phase.input]!
        const keys = recordKeys(phase.input, all.length)
        const headers = recordHeaders(phase.input)
        const times = recordTimestamps(phase.input)
        for (let offset = phase.from; offset < phase.to; offset++) {
          let value: unknown
          try {
            // From the bytes, as the runner decodes them (a number JSON.parse would round, issue 17).
            value = decoder.decodeJson!(Buffer.from(all[offset]!, 'utf8'))
          } catch {
            continue // dead-lettered by the runtime; the interpreter never sees it
          }
          // The record as the runner's log holds it: one partition, offsets in line order.
          const recordTime = times?.[offset] ?? 0
          const record = {
            key: keys[offset] ?? null,
            partition: 0,
            offset,
            timestamp: recordTime,
            headers: headers?.[offset] ?? {},
          }
          const timestamp = decoder.eventTime ? decoder.eventTime(value as never) : recordTime
          pushedHeaders = record.headers
          interpreter.push(phase.input, {
            value: value as Record<string, unknown>,
            key: record.key,
            timestamp,
            record,
          })
        }
      }
      for (const { target, file } of expectedOutputs) {
        expect(outputs.get(target) ?? [], `sink ${target}`).toEqual(lines(file).map(canonicalJson))
        const headersFile = join(dir, `expected.headers.${target}.jsonl`)
        if (existsSync(headersFile)) {
          expect(headersOut.get(target) ?? [], `headers sunk to ${target}`).toEqual(jsonLines(headersFile))
        }
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
