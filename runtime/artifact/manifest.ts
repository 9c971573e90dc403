/**
 * The parts of an artifact's `manifest.json` the runtime relies on (the compiler writes it:
 * compiler/artifact/package.ts). The runtime validates them on load instead of trusting the file,
 * because an artifact can come from another compiler version or another machine.
 */
import { SluiceError } from '../errors.ts'

export type Connector = { readonly kind: 'kafka'; readonly topic: string } | { readonly kind: 'stdout' }

export type GraphNode =
  | { readonly kind: 'Source'; readonly id: string; readonly name: string; readonly connector: Connector }
  | { readonly kind: 'Fused'; readonly id: string; readonly input: string }
  | { readonly kind: 'Sink'; readonly id: string; readonly input: string; readonly connector: Connector }

export interface ManifestSite {
  readonly file: string
  readonly line: number
  readonly column: number
}

export interface RuntimeManifest {
  readonly format: 'sluice-artifact'
  readonly formatVersion: 1
  readonly name: string
  readonly contentHash: string
  readonly irVersion: number
  readonly compiler: { readonly version: string }
  readonly source: { readonly file: string }
  readonly files: { readonly module: string }
  readonly inputs: readonly {
    readonly source: string
    readonly connector: Connector
    readonly eventTimeField: string | null
    readonly watermark: { readonly field: string; readonly delayMs: number } | null
  }[]
  readonly graph: { readonly nodes: readonly GraphNode[] }
  readonly sites: readonly ManifestSite[]
}

export const SUPPORTED_FORMAT_VERSION = 1
export const SUPPORTED_IR_VERSION = 0

/** Checks the fields the runtime uses; throws ARTIFACT_INVALID naming the first problem. */
export function validateManifest(value: unknown, where: string): RuntimeManifest {
  const fail = (problem: string): never => {
    throw new SluiceError('ARTIFACT_INVALID', `${where}: ${problem}`)
  }
  if (typeof value !== 'object' || value === null) return fail('manifest is not a JSON object')
  const m = value as Record<string, unknown>
  if (m.format !== 'sluice-artifact') fail(`not a Sluice artifact (format is ${JSON.stringify(m.format)})`)
  if (m.formatVersion !== SUPPORTED_FORMAT_VERSION) {
    fail(
      `artifact format version ${String(m.formatVersion)} is not supported (this runtime reads ${SUPPORTED_FORMAT_VERSION})`,
    )
  }
  if (m.irVersion !== SUPPORTED_IR_VERSION) fail(`IR version ${String(m.irVersion)} is not supported`)
  for (const key of ['name', 'contentHash'] as const) if (typeof m[key] !== 'string') fail(`missing "${key}"`)
  if (!Array.isArray(m.inputs)) fail('missing "inputs"')
  if (!Array.isArray(m.sites)) fail('missing "sites"')
  const graph = m.graph as { nodes?: unknown } | undefined
  if (!graph || !Array.isArray(graph.nodes)) fail('missing "graph.nodes"')
  const ids = new Set<string>()
  for (const node of (graph as { nodes: Record<string, unknown>[] }).nodes) {
    if (node.kind !== 'Source' && node.kind !== 'Fused' && node.kind !== 'Sink') {
      fail(`graph node ${String(node.id)} has kind ${String(node.kind)}, which this runtime cannot run`)
    }
    if (node.kind !== 'Source' && !ids.has(node.input as string)) {
      fail(`graph node ${String(node.id)} reads ${String(node.input)}, which does not come before it`)
    }
    ids.add(node.id as string)
  }
  return value as RuntimeManifest
}
