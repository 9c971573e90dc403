/**
 * `npm run demo`: the whole user workflow on the embedded log, through the real CLI.
 *   1. sluice check + compile examples/payments/payments.pipe  → an artifact
 *   2. sluice produce the sample events (three of them malformed) → topic "payments"
 *   3. sluice run the artifact until it has processed everything
 *   4. print what the compiled artifact wrote: the large-payments topic, the running totals per card
 *      (a stateful aggregate), six-hour windows per currency (event time, watermarks), the risky stream (stdout sink) and the dead-letter topic with the
 *      reason for each rejected event.
 * Everything lives under .sluice-demo/, recreated on each run.
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { CommandIO } from '../cli/command.ts'
import { main, processIO } from '../cli/main.ts'

const root = '.sluice-demo'
const pipe = 'examples/payments/payments.pipe'
const artifact = join(root, 'artifact')
const dataDir = join(root, 'data')
const io = processIO()

async function sluice(args: string[], capture?: string[]): Promise<void> {
  const commandIO: CommandIO = capture ? { ...io, stdout: (text) => void capture.push(text) } : io
  const code = await main(args, commandIO)
  if (code !== 0) throw new Error(`sluice ${args.join(' ')} exited with ${code}`)
}

function heading(text: string): void {
  process.stdout.write(`\n\x1b[1m== ${text}\x1b[0m\n`)
}

await rm(root, { recursive: true, force: true })
heading(`sluice compile ${pipe}`)
await sluice(['compile', pipe, '-o', artifact])

heading('sluice produce payments (43 events, 3 malformed)')
await sluice([
  'produce',
  'payments',
  '--file',
  'examples/payments/events.jsonl',
  '--key-field',
  'card',
  '--data-dir',
  dataDir,
])

heading('sluice run (until caught up); the `risky` stream prints to stdout')
const risky: string[] = []
await sluice(['run', artifact, '--data-dir', dataDir, '--until-caught-up', '--log-level', 'error'], risky)
process.stdout.write(risky.join(''))

heading('topic large-payments (written by the compiled artifact)')
await sluice(['consume', 'large-payments', '--data-dir', dataDir])

heading('topic card-totals (a running aggregate per card: keyed state)')
await sluice(['consume', 'card-totals', '--data-dir', dataDir])

heading('topic volume-6h (six-hour event-time windows per currency, emitted as the watermark passes them)')
await sluice(['consume', 'volume-6h', '--data-dir', dataDir])

heading('topic sluice.dead-letter (malformed events, with the reason)')
const dead: string[] = []
await sluice(['consume', 'sluice.dead-letter', '--data-dir', dataDir, '--meta'], dead)
for (const line of dead.join('').split('\n').filter(Boolean)) {
  const { headers, value } = JSON.parse(line) as { headers: Record<string, string>; value: string }
  const from = `${headers['sluice.source.topic']}@${headers['sluice.source.partition']}:${headers['sluice.source.offset']}`
  process.stdout.write(
    `${from} (${headers['sluice.error.stage']}): ${headers['sluice.error']}\n    ${value}\n`,
  )
}
