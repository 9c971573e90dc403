/**
 * Structured logs on stderr, so stdout stays free for data (the `stdout` sink, `sluice consume`).
 * Two formats of the same records: `json`, one JSON object per line (time, level, msg, then
 * fields) for log collectors, and `text`, one human-readable line per record
 * (`2026-01-02T03:04:05.678Z WARN  msg key=value …`) for a terminal.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
export type LogFormat = 'json' | 'text'

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error']
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'text']

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
  child(fields: Record<string, unknown>): Logger
}

export interface LoggerOptions {
  /** Records below this level are dropped. Default: 'info'. */
  level?: LogLevel
  /** Default: 'json'. */
  format?: LogFormat
  /** Receives each record as one line ending in '\n'. Default: process.stderr. */
  write?: (line: string) => void
  /** Fields added to every record (a child's context). */
  fields?: Record<string, unknown>
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const threshold = ORDER[options.level ?? 'info']
  const format = options.format ?? 'json'
  const write = options.write ?? ((line: string) => process.stderr.write(line))
  const base = options.fields ?? {}
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < threshold) return
    write(formatLogRecord(format, level, msg, { ...base, ...fields }))
  }
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    child: (fields) => createLogger({ ...options, fields: { ...base, ...fields } }),
  }
}

/**
 * One record as one line ending in '\n', in either format. Exported for lines a command must write
 * whatever the log level (a closing summary), so that they have the same shape as the logs.
 */
export function formatLogRecord(
  format: LogFormat,
  level: LogLevel,
  msg: string,
  fields: Record<string, unknown> = {},
  time: Date = new Date(),
): string {
  if (format === 'json') {
    const record = { time: time.toISOString(), level, msg, ...fields }
    try {
      return `${JSON.stringify(record, errorReplacer)}\n`
    } catch {
      // A cyclic field: a log line must never throw, so the fields go as text.
      return `${JSON.stringify({ time: record.time, level, msg, fields: textFields(fields).trimStart() })}\n`
    }
  }
  return `${time.toISOString()} ${level.toUpperCase().padEnd(5)} ${oneLine(msg)}${textFields(fields)}\n`
}

function textFields(fields: Record<string, unknown>): string {
  let text = ''
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) text += ` ${key}=${textValue(value)}`
  }
  return text
}

/** A field value in text format: bare when unambiguous, else JSON (quoted, escaped, one line). */
function textValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value)
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value)
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Error) return JSON.stringify(describeError(value))
  try {
    return JSON.stringify(value, errorReplacer) ?? String(value)
  } catch {
    // A cyclic value: a log line must never throw.
    return JSON.stringify(String(value))
  }
}

/** A message never breaks a text line in two (a multi-line message would read as two records). */
function oneLine(msg: string): string {
  return msg.includes('\n') || msg.includes('\r') ? msg.replace(/\r?\n|\r/g, '\\n') : msg
}

function describeError(error: Error): Record<string, unknown> {
  return { name: error.name, message: error.message, ...('code' in error ? { code: error.code } : {}) }
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return describeError(value)
  if (typeof value === 'bigint') return value.toString()
  return value
}

/** A logger that drops everything, for tests and embedding. */
export const silentLogger: Logger = createLogger({ write: () => {} })
