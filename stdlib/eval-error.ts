/**
 * Raised while evaluating an expression on one event (integer division by zero, an i64 result
 * outside the safe-integer range, an invalid argument to a stdlib function). The runtime catches
 * it per event and sends that event to the dead-letter topic with `message` and the `.pipe`
 * location of `site` (an index into the artifact's expression-site table, or -1 when unknown).
 */
export class EvaluationError extends Error {
  readonly site: number

  constructor(message: string, site = -1) {
    super(message)
    this.name = 'EvaluationError'
    this.site = site
  }
}
