/**
 * Progress for long CLI steps, on stderr (stdout carries data). On a terminal one line is
 * rewritten in place; elsewhere (CI, pipes) a line is printed at most every `intervalMs`.
 */
export interface Progress {
  update(done: number, detail?: string): void
  finish(message: string): void
}

export function createProgress(
  label: string,
  options: { total?: number; write?: (text: string) => void; tty?: boolean; intervalMs?: number } = {},
): Progress {
  const write = options.write ?? ((text: string) => process.stderr.write(text))
  const tty = options.tty ?? (options.write === undefined && process.stderr.isTTY === true)
  const interval = options.intervalMs ?? (tty ? 100 : 2000)
  const started = performance.now()
  let last = 0
  const render = (done: number, detail?: string): string => {
    const seconds = (performance.now() - started) / 1000
    const rate = seconds > 0 ? Math.round(done / seconds) : 0
    const of =
      options.total === undefined
        ? ''
        : ` / ${options.total} (${Math.floor((100 * done) / Math.max(1, options.total))}%)`
    return `${label}: ${done}${of}, ${rate}/s${detail ? `, ${detail}` : ''}`
  }
  return {
    update(done, detail) {
      const now = performance.now()
      if (now - last < interval) return
      last = now
      write(tty ? `\r\x1b[2K${render(done, detail)}` : `${render(done, detail)}\n`)
    },
    finish(message) {
      write(`${tty ? '\r\x1b[2K' : ''}${label}: ${message} in ${formatMs(performance.now() - started)}\n`)
    },
  }
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`
}
