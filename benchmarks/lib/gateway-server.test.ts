import { describe, expect, it } from 'vitest'
import { parseProcStat, serveArgs, servingLine } from './gateway-server.ts'

describe('gateway benchmark server helpers', () => {
  it('reads user and system ticks and resident pages from /proc/PID/stat, a command name with spaces and parentheses included', () => {
    // Fields after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    // utime stime cutime cstime priority nice threads itrealvalue starttime vsize rss ...
    const stat =
      '4242 (node (a b)) S 1 2 3 0 -1 4194560 10 0 0 0 250 75 0 0 20 0 11 0 99 123456 300 18446744073709551615'
    expect(parseProcStat(stat)).toEqual({ userSeconds: 2.5, cpuSeconds: 3.25, rssBytes: 300 * 4096 })
  })

  it('finds the serving line among serve’s log lines, and only once it is whole', () => {
    const before = '{"level":"info","msg":"opening the log"}\n'
    const serving =
      '{"level":"info","msg":"serving","gateway":"http://127.0.0.1:4100","grpc":"127.0.0.1:4101"}\n'
    expect(servingLine(before)).toBeNull()
    expect(servingLine(before + serving.slice(0, 40))).toBeNull()
    expect(servingLine(before + serving)).toEqual({
      level: 'info',
      msg: 'serving',
      gateway: 'http://127.0.0.1:4100',
      grpc: '127.0.0.1:4101',
    })
  })

  it('asks for gRPC only when told to, and for the threads given', () => {
    const base = { tree: '/repo', artifact: '/a', dataDir: '/d', threads: 2 }
    expect(serveArgs(base)).not.toContain('--grpc')
    expect(serveArgs({ ...base, grpc: true })).toContain('--grpc')
    const args = serveArgs(base)
    expect(args[0]).toBe('/repo/bin/sluice.js')
    expect(args[args.indexOf('--gateway-threads') + 1]).toBe('2')
  })
})
