import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadArtifact } from '../../runtime/artifact/load.ts'
import type { GraphNode, MatchGraphNode } from '../../runtime/artifact/manifest.ts'
import { MatchExplainer } from '../../runtime/cep/explain.ts'
import { compileNfa } from '../../runtime/cep/nfa-compile.ts'
import { nfaText } from '../../runtime/cep/nfa-text.ts'
import { EmbeddedLog } from '../../runtime/log/embedded.ts'
import { MetricsRegistry } from '../../runtime/metrics/registry.ts'
import { PipelineRunner } from '../../runtime/node/pipeline-runner.ts'
import { FileSnapshotStore } from '../../runtime/state/file-snapshot-store.ts'
import { parse, UsageError } from '../args.ts'
import type { Command } from '../command.ts'

/** Longest a recorded input may take to run through the pipeline. */
const CAUGHT_UP_TIMEOUT_MS = 600_000

export const explain: Command = {
  name: 'explain',
  summary: 'show, for one key of a match step over recorded events, what its pattern did with each',
  help: `Usage: sluice explain ARTIFACT_DIR --key KEY --input [SOURCE=]FILE [options]

Runs the artifact's pipeline over recorded events (JSON lines, as \`sluice consume\` prints them) in
a scratch embedded log, and prints for one key of a \`match\` step which step each event advanced,
which condition failed, and why a partial match was dropped (timeout, skip strategy, negation,
budget, or an event that could not extend it under strict contiguity). Nothing is written to any
real log: the run's outputs stay in the scratch log, deleted afterwards.

Options:
  --key KEY             the key (the \`match by\` value as text; "" for a match without \`by\`)
  --input [SOURCE=]FILE recorded events of a source (repeatable; SOURCE may be left out when the
                        pipeline has one source)
  --match STREAM        the match step's stream, when the pipeline has several
  --nfa                 also print the pattern's automaton, one line per state
  -h, --help            show this help`,
  async run(argv, io) {
    const { positionals, values } = parse(argv, {
      key: { type: 'string' },
      input: { type: 'string', multiple: true },
      match: { type: 'string' },
      nfa: { type: 'boolean' },
    })
    if (positionals.length !== 1) throw new UsageError('sluice explain takes exactly one artifact directory')
    if (values.key === undefined) throw new UsageError('--key is required: the key to explain')
    const artifact = await loadArtifact(positionals[0]!)
    const nodes = artifact.manifest.graph.nodes
    const match = chooseMatch(nodes, values.match)
    const inputs = await readInputs(nodes, values.input ?? [])

    const names = match.steps.map((step) => step.name)
    if (values.nfa) {
      io.stdout(`pattern automaton of ${match.id} (docs/cep.md):\n`)
      for (const line of nfaText(compileNfa(match), names)) io.stdout(`  ${line}\n`)
    }
    const explainer = new MatchExplainer(values.key, names)
    const scratch = await mkdtemp(join(tmpdir(), 'sluice-explain-'))
    try {
      const log = await EmbeddedLog.open(scratch, { durability: 'none' })
      try {
        for (const { topic, lines } of inputs) {
          await log.ensureTopic(topic)
          for (let from = 0; from < lines.length; from += 1000)
            await log.append(
              topic,
              lines.slice(from, from + 1000).map((line) => ({ key: null, value: Buffer.from(line) })),
            )
        }
        const runner = await PipelineRunner.start({
          log,
          artifact,
          metrics: new MetricsRegistry(),
          stdout: () => {},
          // Scratch state beside the scratch log: a stateful pipeline needs a store.
          stateStore: new FileSnapshotStore(join(scratch, 'state'), { fsync: false }),
          traceMatches: true,
          onMatchOperator: (id, operator) => {
            if (id === match.id) explainer.attach(operator)
          },
        })
        await runner.waitUntilCaughtUp(CAUGHT_UP_TIMEOUT_MS)
        await runner.stop()
        await runner.done
      } finally {
        await log.close()
      }
    } finally {
      await rm(scratch, { recursive: true, force: true })
    }
    for (const line of explainer.lines) io.stdout(`${line}\n`)
    io.stdout(`${explainer.summary()}\n`)
    return 0
  },
}

function chooseMatch(nodes: readonly GraphNode[], wanted: string | undefined): MatchGraphNode {
  const matches = nodes.filter((node): node is MatchGraphNode => node.kind === 'Match')
  if (matches.length === 0) throw new UsageError('the artifact has no match step to explain')
  if (wanted === undefined) {
    if (matches.length === 1) return matches[0]!
    throw new UsageError(
      `the artifact has ${matches.length} match steps: choose one with --match (${matches.map((m) => m.id).join(', ')})`,
    )
  }
  // Node ids are `<stream>#<n>`: the stream's name alone is what users know.
  const found = matches.find((m) => m.id === wanted || m.id.split('#')[0] === wanted)
  if (found === undefined)
    throw new UsageError(
      `--match ${wanted}: no match step of that stream (there are: ${matches.map((m) => m.id).join(', ')})`,
    )
  return found
}

/** Each --input's lines and the topic its source reads. */
async function readInputs(
  nodes: readonly GraphNode[],
  inputs: readonly string[],
): Promise<{ topic: string; lines: string[] }[]> {
  const sources = nodes.flatMap((node) =>
    node.kind === 'Source' && node.connector.kind === 'kafka'
      ? [{ name: node.name, topic: node.connector.topic }]
      : [],
  )
  if (inputs.length === 0) throw new UsageError('--input is required: the recorded events to run')
  return Promise.all(
    inputs.map(async (input) => {
      const at = input.indexOf('=')
      const name = at < 0 ? null : input.slice(0, at)
      const file = at < 0 ? input : input.slice(at + 1)
      const source =
        name === null
          ? sources.length === 1
            ? sources[0]!
            : undefined
          : sources.find((s) => s.name === name)
      if (source === undefined)
        throw new UsageError(
          name === null
            ? `--input ${input}: the pipeline has ${sources.length} sources; write SOURCE=FILE (${sources.map((s) => s.name).join(', ')})`
            : `--input ${input}: no source named ${name} (there are: ${sources.map((s) => s.name).join(', ')})`,
        )
      let text: string
      try {
        text = await readFile(file, 'utf8')
      } catch (error) {
        throw new UsageError(`--input ${input}: cannot read ${file}: ${(error as Error).message}`)
      }
      return { topic: source.topic, lines: text.split('\n').filter((line) => line.trim() !== '') }
    }),
  )
}
