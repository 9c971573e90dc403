/**
 * The CEP benchmark's end-to-end input (cep.bench.ts, cep-e2e-ab.bench.ts): its pattern as a
 * `.pipe` pipeline and its payments as JSON lines in a topic of an embedded log.
 */
import { type CepWorkloadOptions, cepBatches, LARGE_ABOVE, SMALL_BELOW } from './cep-workload.ts'

/** The benchmark's pattern as a pipeline, reading `source` and writing its matches to `sink`. */
export function cepPipeline(source: string, sink: string): string {
  return `schema Payment { card: string, amount: f64, ts: timestamp @event_time }
source payments: Payment from kafka("${source}") watermark ts
stream suspicious = payments
  | match by card within 10m
      pattern small{2} followed by large
      define
        small as amount < ${SMALL_BELOW}.0,
        large as amount > ${LARGE_ABOVE}.0
      { card: large.card, small_total: sum(small.amount), large_amount: large.amount }
sink suspicious -> kafka("${sink}")
`
}

/** What appendPayments needs of a log (an EmbeddedLog of any commit the A/B runs). */
export interface PaymentLog {
  append(topic: string, records: { key: null; value: Buffer }[]): Promise<unknown>
}

/** Appends `events` payments of the workload to `topic` as JSON lines (untimed), 10,000 at a time. */
export async function appendPayments(
  log: PaymentLog,
  topic: string,
  events: number,
  workload: CepWorkloadOptions,
): Promise<void> {
  for (const batch of cepBatches(events, workload, 10_000)) {
    await log.append(
      topic,
      (batch.rows as { card: number; amount: number; ts: number }[]).map((p) => ({
        key: null,
        value: Buffer.from(
          JSON.stringify({
            card: `card-${p.card}`,
            amount: p.amount,
            ts: new Date(Math.floor(p.ts)).toISOString(),
          }),
        ),
      })),
    )
  }
}
