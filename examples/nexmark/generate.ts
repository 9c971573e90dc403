/**
 * Writes Nexmark events as JSON lines, one file per topic (person.jsonl, auction.jsonl, bid.jsonl),
 * for `sluice produce`:
 *
 *   node --import tsx examples/nexmark/generate.ts --events 100000 --out /tmp/nexmark
 *
 * Options: --events N (default 100,000), --rate events/s of event time (default 10,000, Beam's),
 * --seed (default 42), --out DIR (default .nexmark).
 */
import { createWriteStream } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { finished } from 'node:stream/promises'
import { parseArgs } from 'node:util'
import { type NexmarkTopic, nexmarkJsonChunks } from '../../benchmarks/lib/nexmark.ts'

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '100000' },
    rate: { type: 'string', default: '10000' },
    seed: { type: 'string', default: '42' },
    out: { type: 'string', default: '.nexmark' },
  },
})
const events = Number(values.events)
const rate = Number(values.rate)
const seed = Number(values.seed)
for (const [name, value] of Object.entries({ events, rate, seed }))
  if (!(Number.isInteger(value) && value > 0)) throw new RangeError(`--${name} must be a positive integer`)

await mkdir(values.out, { recursive: true })
const topics: NexmarkTopic[] = ['person', 'auction', 'bid']
const files = Object.fromEntries(topics.map((t) => [t, createWriteStream(join(values.out, `${t}.jsonl`))]))
for (const chunk of nexmarkJsonChunks(events, 10_000, { seed, eventsPerSecond: rate })) {
  for (const topic of topics) {
    const text = chunk[topic].map((r) => `${r.line}\n`).join('')
    if (!files[topic]!.write(text))
      await new Promise<void>((done) => files[topic]!.once('drain', () => done()))
  }
}
for (const topic of topics) {
  files[topic]!.end()
  await finished(files[topic]!)
}
process.stdout.write(
  `wrote ${events} events to ${topics.map((t) => join(values.out, `${t}.jsonl`)).join(', ')}\n`,
)
