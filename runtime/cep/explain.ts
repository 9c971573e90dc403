/**
 * `sluice explain` for a `match` step: for one key over a recorded input, which step each event
 * advanced, which condition failed, and why a partial match was dropped. It watches a CepOperator
 * (its observer: events as they arrive, late ones included) and its TypeScript engine's trace
 * (runtime/cep/engine.ts TraceEntry), and writes what concerns the key as lines of text.
 *
 * The engine names events by arrival number and partial matches by id; a partial match belongs to
 * the key of the event that started it, so the explainer learns each id's key from its `start`.
 */
import type { CepObserver, CepOperator } from './cep-operator.ts'
import type { DropReason, TraceEntry } from './engine.ts'

interface SeenEvent {
  readonly key: string
  readonly time: number
  readonly row: unknown
}

const DROP_REASONS: Record<DropReason, string> = {
  timeout: 'its `within` ran out',
  budget: 'the partial-match budget was full (its oldest partial matches are dropped first)',
  skip: 'the skip strategy discarded it after a match',
  negation: 'an event met a negated step (`not next` / `not followed by`)',
  'no-continuation': 'the event could not extend it',
}

export class MatchExplainer implements CepObserver {
  readonly lines: string[] = []
  private readonly events = new Map<number, SeenEvent>()
  private readonly keyOfPartial = new Map<number, string>()
  /** The arrival number whose event the last lines were about (a heading per event). */
  private headed = -1
  private lateCount = 0
  private matched = 0
  private dropped = 0

  constructor(
    private readonly key: string,
    private readonly stepNames: readonly string[],
    /** How a row is shown: the match's input record as JSON by default. */
    private readonly show: (row: unknown) => string = (row) => JSON.stringify(row),
  ) {}

  /** Watches `operator` (forcing nothing: the operator must run the TypeScript engine, which traces). */
  attach(operator: CepOperator): void {
    operator.observer = this
    operator.patternEngine.trace = (entry) => this.traced(entry)
  }

  /** One closing line: what happened to the key in all. */
  summary(): string {
    const seen = [...this.events.values()].filter((e) => e.key === this.key).length
    return `key ${JSON.stringify(this.key)}: ${seen} event(s) on time, ${this.lateCount} late, ${this.matched} match(es), ${this.dropped} partial match(es) dropped`
  }

  buffered(seq: number, key: string, time: number, row: unknown): void {
    this.events.set(seq, { key, time, row })
  }

  late(key: string | null, time: number, watermark: number, row: unknown): void {
    if (key !== this.key) return
    this.lateCount++
    this.lines.push(
      `late event at ${iso(time)}: before the watermark ${iso(watermark)}, so it never reaches the pattern (late into, or the dead letters): ${this.show(row)}`,
    )
  }

  private traced(entry: TraceEntry): void {
    if (entry.kind === 'start') this.keyOfPartial.set(entry.partial, this.events.get(entry.seq)?.key ?? '')
    if (entry.kind === 'take' || entry.kind === 'ignore') {
      // A branch gets a new id from its parent: it belongs to the event's key.
      const key = this.events.get(entry.seq)?.key
      if (key !== undefined && !this.keyOfPartial.has(entry.partial))
        this.keyOfPartial.set(entry.partial, key)
    }
    if (this.keyOfPartial.get(entry.partial) !== this.key) return
    const step = (index: number) => `\`${this.stepNames[index] ?? `#${index}`}\``
    switch (entry.kind) {
      case 'start':
        this.heading(entry.seq)
        this.lines.push(`  partial match p${entry.partial} starts: the event meets ${step(entry.step)}`)
        break
      case 'take':
        this.heading(entry.seq)
        this.lines.push(`  p${entry.partial} takes it as ${step(entry.step)}`)
        break
      case 'ignore':
        this.heading(entry.seq)
        this.lines.push(
          `  p${entry.partial} skips it (relaxed contiguity), still waiting at ${step(entry.step)}`,
        )
        break
      case 'fail':
        this.heading(entry.seq)
        this.lines.push(
          `  p${entry.partial}: the condition of ${step(entry.step)} failed with an error, counted false: ${entry.error ?? 'unknown error'}`,
        )
        break
      case 'drop': {
        this.dropped++
        if (entry.seq !== null) this.heading(entry.seq)
        const waiting =
          entry.awaited !== undefined && entry.awaited.length > 0
            ? `: it met none of the conditions of ${entry.awaited.map(step).join(', ')}, and its contiguity allows no skipping here`
            : ''
        this.lines.push(`  p${entry.partial} dropped: ${DROP_REASONS[entry.reason]}${waiting}`)
        break
      }
      case 'match':
      case 'timeout': {
        if (entry.kind === 'match') this.matched++
        const events = entry.seqs.map((seq) => this.describe(seq)).join(', ')
        this.lines.push(
          entry.kind === 'match'
            ? `  p${entry.partial} MATCHES: ${events}`
            : `  p${entry.partial} times out (to the timeout stream): ${events}`,
        )
        break
      }
    }
  }

  private heading(seq: number): void {
    if (seq === this.headed) return
    this.headed = seq
    const event = this.events.get(seq)
    this.lines.push(
      event === undefined ? `event #${seq}` : `event #${seq} at ${iso(event.time)}: ${this.show(event.row)}`,
    )
  }

  private describe(seq: number): string {
    const event = this.events.get(seq)
    return event === undefined ? `#${seq}` : `#${seq} (${iso(event.time)})`
  }
}

function iso(time: number): string {
  return Number.isFinite(time) ? new Date(time).toISOString() : String(time)
}
