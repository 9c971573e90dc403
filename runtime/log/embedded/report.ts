import type { Logger } from '../../observability/logger.ts'

/**
 * What the embedded log found and did about damage: every cut, quarantine, skipped offset range
 * and unusable partition becomes one RecoveryEvent, kept in a list the CLI and tests read
 * (EmbeddedLog.recoveryReport) and logged as a warning, so damage is never handled silently.
 */
export type RecoveryEventKind =
  /** An incomplete last frame (a write torn by a crash) was cut off. */
  | 'torn-tail-cut'
  /** Complete frames with a bad CRC or impossible length at the end of a segment were moved aside. */
  | 'corrupt-tail-quarantined'
  /** Offsets that may have been handed out were retired: the partition continues past them. */
  | 'offsets-skipped'
  /** Damage recovery cannot fix on its own: the partition refuses reads and appends until repaired. */
  | 'partition-damaged'
  /** A topic's meta.json is damaged: the topic is unusable until repaired. */
  | 'topic-damaged'
  /** A read-only reader stepped over damaged bytes (only when asked to, e.g. consume --skip-corrupt). */
  | 'corrupt-skipped'
  /** A consumer group's offsets file was damaged or missing and its backup generation was used. */
  | 'group-offsets-backup-used'
  /** A consumer group's offsets file is gone while traces of the group remain. */
  | 'group-offsets-vanished'
  /** A transaction was open when the process ended: its records were aborted (never delivered). */
  | 'transaction-aborted'

export interface RecoveryEvent {
  readonly kind: RecoveryEventKind
  readonly message: string
  readonly topic?: string
  readonly partition?: number
  readonly group?: string
  readonly file?: string
  /** Byte position in `file` where the damage starts. */
  readonly position?: number
  /** Bytes removed from (or skipped in) `file`. */
  readonly bytes?: number
  /** Offsets [from, to) affected: cut, skipped or retired. */
  readonly offsets?: { readonly from: number; readonly to: number }
  /** Where damaged bytes were kept. */
  readonly quarantine?: string
}

export type ReportSink = (event: RecoveryEvent) => void

/** Collects events and logs each one as a warning (JSON line with the event's fields). */
export class RecoveryReport {
  readonly events: RecoveryEvent[] = []

  constructor(private readonly logger: Logger) {}

  readonly add: ReportSink = (event) => {
    this.events.push(event)
    const { message, ...fields } = event
    this.logger.warn(message, fields)
  }
}
