/**
 * The set-up of the gateway tests: the pipeline whose sources the gateway takes events for,
 * compiled once per test file, and gateways started in-process on an embedded log of their own
 * (a fresh directory with the `payments` topic), drained, closed and removed after each test (or
 * after the file's tests, for one started in a beforeAll), the last started first.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll } from 'vitest'
import { type LoadedArtifact, loadArtifact } from '../../runtime/artifact/load.ts'
import { Gateway, type GatewayOptions } from '../../runtime/gateway/gateway.ts'
import { streamCatalog } from '../../runtime/gateway/streams.ts'
import { EmbeddedLog } from '../../runtime/log/embedded.ts'
import type { Log } from '../../runtime/log/index.ts'
import { MetricsRegistry } from '../../runtime/metrics/registry.ts'
import { compileFixture } from './compile-fixture.ts'

/** How to start one gateway: beyond these, the options are the Gateway's own. */
export type TestGatewayOptions = Omit<Partial<GatewayOptions>, 'log' | 'streams' | 'metrics'> & {
  /** Names the temporary data directory. */
  readonly prefix: string
  /** The partitions of the `payments` topic (1 by default). */
  readonly partitions?: number
  /** The streams' key fields (none by default). */
  readonly keyFields?: Record<string, string>
  /** Wraps the log the gateway appends to (the embedded log is what the test reads). */
  readonly wrap?: (log: EmbeddedLog) => Log
}

/** A started gateway, its embedded log and its metrics. */
export interface TestGateway {
  readonly gateway: Gateway
  readonly log: EmbeddedLog
  readonly metrics: MetricsRegistry
}

/** Registers the compile and the clean-ups with the calling test file. */
export function gatewayFixture(pipe: string) {
  let artifact: LoadedArtifact | undefined
  beforeAll(async () => {
    artifact = await loadArtifact(await compileFixture(pipe, 'payments', 'payments.pipe'))
  })
  const cleanups: (() => Promise<void>)[] = []
  const cleanUp = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  }
  afterEach(cleanUp)
  afterAll(cleanUp)
  /** The compiled pipeline (from the file's beforeAll on). */
  const artifactOf = (): LoadedArtifact => {
    if (artifact === undefined) throw new Error('the gateway fixture has not compiled its pipeline yet')
    return artifact
  }
  return {
    artifact: artifactOf,
    /** Runs `cleanup` after the test, before the clean-ups registered earlier. */
    onCleanup(cleanup: () => Promise<void>): void {
      cleanups.push(cleanup)
    },
    /** A gateway on port 0 over a fresh embedded log (durability `batch`). */
    async startGateway(options: TestGatewayOptions): Promise<TestGateway> {
      const { prefix, partitions, keyFields, wrap, ...rest } = options
      const dir = await mkdtemp(join(tmpdir(), `${prefix}-`))
      const log = await EmbeddedLog.open(dir, { durability: 'batch' })
      await log.ensureTopic('payments', { partitions: partitions ?? 1 })
      const metrics = new MetricsRegistry()
      const gateway = await Gateway.start({
        log: wrap ? wrap(log) : log,
        streams: streamCatalog([artifactOf()], keyFields ?? {}),
        metrics,
        port: 0,
        ...rest,
      })
      cleanups.push(async () => {
        await gateway.drain(1000)
        await log.close()
        await rm(dir, { recursive: true, force: true })
      })
      return { gateway, log, metrics }
    },
  }
}

/** `inner`, except that its first append fails ("disk on fire"): a failed append, not a handler bug. */
export function failingFirstAppend(inner: Log): Log {
  let refuse = true
  const wrapper = Object.create(inner) as Log
  wrapper.append = async (topic, records, options) => {
    if (!refuse) return inner.append(topic, records, options)
    refuse = false
    throw new Error('disk on fire')
  }
  wrapper.partitions = (topic) => inner.partitions(topic)
  return wrapper
}
