/**
 * What operator state costs at a million keys, for each SnapshotStore (runtime/state): a full
 * snapshot (every key changed), an incremental epoch (1 % of the keys changed, what a checkpoint
 * every second writes at 10k distinct keys/s), and a restore (load + KeyedState.restore, the
 * state part of recovery after a crash). Also the hot-path cost of KeyedState.get + set.
 *
 *   npm run bench:state [-- --keys 1000000] [-- --redis redis://127.0.0.1:6390]
 *
 * The Redis store runs when --redis (or $SLUICE_REDIS_URL) names a server (scripts/servers/redis.sh
 * start). Writes benchmarks/reports/state-snapshot.{json,md,svg}.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { FileSnapshotStore } from '../runtime/state/file-snapshot-store.ts'
import { jsonCodec, type SnapshotStore, type StateCodec, type StateScope } from '../runtime/state/index.ts'
import { KeyedState } from '../runtime/state/keyed-state.ts'
import { RedisSnapshotStore } from '../runtime/state/redis-snapshot-store.ts'
import { PeakMemory } from './lib/measure.ts'
import { formatBytes, machineInfo, writeReportFiles } from './lib/report.ts'

const { values } = parseArgs({
  options: {
    keys: { type: 'string', default: '1000000' },
    redis: { type: 'string' },
    out: { type: 'string', default: 'benchmarks/reports' },
  },
})
const KEYS = Number(values.keys)
const REDIS_URL = values.redis ?? process.env.SLUICE_REDIS_URL
const scope: StateScope = { pipeline: 'bench', operator: 'running-count', topic: 'payments', partition: 0 }

/** A running aggregate's value per card: what the keyed running count/sum step keeps. */
interface Running {
  count: number
  sum: number
}
const codec = jsonCodec as StateCodec<Running>

interface BackendResult {
  readonly backend: string
  readonly fullSnapshotSeconds: number
  readonly fullSnapshotBytes: number | null
  readonly incrementalEpochSeconds: number
  readonly incrementalKeys: number
  readonly loadSeconds: number
  readonly restoreSeconds: number
}

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9
}

function filled(): KeyedState<Running> {
  const state = new KeyedState({ codec })
  for (let i = 0; i < KEYS; i++) state.set(`card-${i}`, { count: (i % 7) + 1, sum: i * 1.5 }, i)
  return state
}

async function measure(
  name: string,
  store: SnapshotStore,
  bytes: () => Promise<number | null>,
): Promise<BackendResult> {
  const state = filled()
  let t = process.hrtime.bigint()
  await store.stage(scope, 1, state.takeChanges())
  await store.commit(scope, 1)
  const fullSnapshotSeconds = seconds(t)
  const fullSnapshotBytes = await bytes()

  const incrementalKeys = Math.max(1, Math.floor(KEYS / 100))
  for (let i = 0; i < incrementalKeys; i++) {
    const key = `card-${(i * 97) % KEYS}`
    const v = state.get(key, KEYS + i)!
    state.set(key, { count: v.count + 1, sum: v.sum + 10 }, KEYS + i)
  }
  t = process.hrtime.bigint()
  await store.stage(scope, 2, state.takeChanges())
  await store.commit(scope, 2)
  const incrementalEpochSeconds = seconds(t)

  t = process.hrtime.bigint()
  const snapshot = await store.load(scope, 2)
  const loadSeconds = seconds(t)
  t = process.hrtime.bigint()
  const restored = new KeyedState({ codec })
  restored.restore(snapshot.entries)
  const restoreSeconds = seconds(t)
  if (restored.size !== KEYS) throw new Error(`${name}: restored ${restored.size} keys, expected ${KEYS}`)
  const probe = `card-${(5 * 97) % KEYS}`
  if (JSON.stringify(restored.get(probe, 0)) !== JSON.stringify(state.get(probe, 0))) {
    throw new Error(`${name}: restored value of ${probe} differs`)
  }
  return {
    backend: name,
    fullSnapshotSeconds,
    fullSnapshotBytes,
    incrementalEpochSeconds,
    incrementalKeys,
    loadSeconds,
    restoreSeconds,
  }
}

/**
 * KeyedState get + set on random keys, and in the same run the floor under it: one lookup of the
 * same keys in a plain Map (a million random keys miss the CPU caches, so the machine's memory
 * latency, not the code, sets most of the cost; the ratio says what the state adds).
 */
function hotPath(): { getSetNs: number; mapGetNs: number } {
  const n = 2_000_000
  const key = (i: number) => `card-${(i * 7919) % KEYS}`
  const map = new Map<string, Running>()
  for (let i = 0; i < KEYS; i++) map.set(`card-${i}`, { count: 1, sum: 1 })
  let sink = 0
  let t = process.hrtime.bigint()
  for (let i = 0; i < n; i++) sink += map.get(key(i))!.count
  const mapGetNs = Number(process.hrtime.bigint() - t) / n
  map.clear()

  const state = filled()
  t = process.hrtime.bigint()
  for (let i = 0; i < n; i++) {
    const k = key(i)
    const v = state.get(k, i)
    state.set(k, v === undefined ? { count: 1, sum: 1 } : { count: v.count + 1, sum: v.sum + 1 }, i)
  }
  const getSetNs = Number(process.hrtime.bigint() - t) / n
  if (sink !== n) throw new Error('map lookups missed')
  return { getSetNs, mapGetNs }
}

async function main(): Promise<void> {
  const memory = new PeakMemory()
  const timer = setInterval(() => memory.sample(), 50)
  const results: BackendResult[] = []
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-state-bench-'))
  try {
    const files = new FileSnapshotStore(dir, { fsync: true })
    results.push(
      await measure('files (embedded)', files, async () => {
        let total = 0
        const scopeDir = path.join(dir, 'bench', 'running-count', 'payments', '0')
        for (const name of await readdir(scopeDir)) total += (await stat(path.join(scopeDir, name))).size
        return total
      }),
    )
    await files.close()
    if (REDIS_URL) {
      const prefix = `sluice-bench-${process.pid}`
      const redis = await RedisSnapshotStore.connect({ url: REDIS_URL, prefix })
      try {
        results.push(await measure('Redis (distributed)', redis, async () => null))
      } finally {
        await redis.close()
        await dropKeys(REDIS_URL, prefix)
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  const hot = hotPath()
  clearInterval(timer)
  memory.sample()
  const report = {
    name: 'state-snapshot',
    machine: machineInfo(),
    loadAverage: loadavg()[0]!,
    keys: KEYS,
    hotPath: { getPlusSetNsPerEvent: hot.getSetNs, plainMapGetNs: hot.mapGetNs },
    backends: results,
    peakRssBytes: memory.peakRssBytes,
    method:
      'One process. A KeyedState of KEYS running {count, sum} values (JSON codec) is staged and committed as epoch 1 (full snapshot), then 1 % of the keys change and epoch 2 is staged and committed (incremental), then epoch 2 is loaded and restored into a new KeyedState (checked: size and a value). Files fsync every file; Redis runs with AOF everysec (scripts/servers/redis.sh). Hot path: 2M get+set pairs on random keys of the filled state, and before it 2M lookups of the same keys in a plain Map (the floor).',
  }
  await writeReportFiles(values.out!, report.name, report, renderMarkdown(report), renderSvg(results))
  console.log(renderMarkdown(report))
}

function renderMarkdown(report: {
  machine: ReturnType<typeof machineInfo>
  loadAverage: number
  keys: number
  hotPath: { getPlusSetNsPerEvent: number; plainMapGetNs: number }
  backends: BackendResult[]
  peakRssBytes: number
  method: string
}): string {
  const s = (x: number) => `${x.toFixed(3)} s`
  const rows = report.backends.map(
    (b) =>
      `| ${b.backend} | ${s(b.fullSnapshotSeconds)} | ${b.fullSnapshotBytes === null ? '—' : formatBytes(b.fullSnapshotBytes)} | ${s(b.incrementalEpochSeconds)} (${b.incrementalKeys.toLocaleString('en')} keys) | ${s(b.loadSeconds)} | ${s(b.restoreSeconds)} | **${s(b.loadSeconds + b.restoreSeconds)}** |`,
  )
  return `# State snapshots at ${report.keys.toLocaleString('en')} keys

${report.machine.cpuModel}, ${report.machine.cores} cores, Node ${report.machine.nodeVersion}, ${report.machine.date} (commit ${report.machine.gitCommit ?? 'unknown'}${report.machine.gitDirty ? ', dirty' : ''}), load average ${report.loadAverage.toFixed(1)} at the end.

| store | full snapshot (stage + commit) | size | incremental epoch (1 % changed) | load | restore into KeyedState | state recovery (load + restore) |
|---|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}

Hot path: KeyedState get + set of a running value, **${report.hotPath.getPlusSetNsPerEvent.toFixed(0)} ns per event** (random keys of ${report.keys.toLocaleString('en')}); one lookup of the same keys in a plain Map took ${report.hotPath.plainMapGetNs.toFixed(0)} ns in the same run. Peak RSS ${formatBytes(report.peakRssBytes)}.

Target (exactly-once issue): recovery from SIGKILL to the first new committed output under 2 s with 1,000,000 keys; the state part of it is the last column (the log's reconnect and the group's rebalance come on top, measured by the recovery benchmark of that issue).

Method: ${report.method}
`
}

function renderSvg(results: BackendResult[]): string {
  const bars = results.flatMap((r) => [
    { label: `${r.backend}: full snapshot`, value: r.fullSnapshotSeconds },
    { label: `${r.backend}: 1 % epoch`, value: r.incrementalEpochSeconds },
    { label: `${r.backend}: recovery`, value: r.loadSeconds + r.restoreSeconds },
  ])
  const max = Math.max(...bars.map((b) => b.value), 0.001)
  const width = 720
  const rowHeight = 28
  const height = 40 + bars.length * rowHeight
  const rows = bars
    .map((b, i) => {
      const y = 30 + i * rowHeight
      const w = Math.max(1, (b.value / max) * 360)
      return `<text x="10" y="${y + 16}" font-size="12">${b.label}</text><rect x="300" y="${y + 4}" width="${w.toFixed(1)}" height="16" fill="#4a7ab5"/><text x="${(305 + w).toFixed(1)}" y="${y + 16}" font-size="12">${b.value.toFixed(3)} s</text>`
    })
    .join('\n')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">
<text x="10" y="18" font-size="14" font-weight="bold">State snapshot and recovery time (seconds, lower is better)</text>
${rows}
</svg>
`
}

/** Removes the benchmark's keys, so runs against a long-lived Redis do not pile up a million keys each. */
async function dropKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url)
  try {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
      if (keys.length > 0) await redis.del(...keys)
      cursor = next
    } while (cursor !== '0')
  } finally {
    redis.disconnect()
  }
}

await main()
