/**
 * A gateway worker thread's TCP sockets, reached from the thread that started it (docs/decisions/
 * 0030-gateway-threads.md, addendum "no queued connection reset, a stuck worker's sockets cut
 * first"). Every socket µWebSockets.js opens in a worker is registered in the epoll set of that
 * thread's event loop; the worker tells its descriptor (socket-teardown.c, pollFd) and the kernel
 * lists the set's members with their inodes in /proc/self/fdinfo/<fd>, so this thread can find
 * them without touching the worker's memory, whether it runs or is stuck. What it does to them is
 * native (socket-control.c): attach the migration program to the port's SO_REUSEPORT group, or
 * disconnect them before the worker is stopped from outside.
 */
import { fstatSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { nativeAddon } from './native-addon.ts'

/** A descriptor as it was seen: its number and its inode, so a number reused meanwhile is not taken for it. */
export interface SeenFd {
  readonly fd: number
  readonly ino: bigint
}

/** The exports of native/socket-control.c: each answers 0 or an errno, -1 when `fd` is not that TCP socket now. */
interface SocketControl {
  state(fd: number, ino: bigint): -1 | 0 | 1
  migrate(fd: number, ino: bigint): number
  disconnect(fd: number, ino: bigint): number
}

/** The members of an epoll set, from the text of its /proc/self/fdinfo entry. */
export function epollMembers(fdinfo: string): SeenFd[] {
  const members: SeenFd[] = []
  for (const match of fdinfo.matchAll(/^tfd:\s*(\d+)\s.*\bino:([0-9a-f]+)/gm))
    members.push({ fd: Number(match[1]), ino: BigInt(`0x${match[2]}`) })
  return members
}

/** `fd` as seen now (its inode), to name it later. */
export function seeFd(fd: number): SeenFd {
  return { fd, ino: fstatSync(fd, { bigint: true }).ino }
}

/** Where the migration of queued connections comes from: this node's program, the kernel's setting, or nowhere. */
export type QueuedConnections = 'migrated (eBPF)' | 'migrated (net.ipv4.tcp_migrate_req)' | 'reset'

export class LoopSockets {
  private constructor(private readonly control: SocketControl) {}

  /** The native part built and loaded, or why not (native-addon.ts). */
  static async load(): Promise<LoopSockets | { readonly unavailable: string }> {
    const addon = await nativeAddon('socket-control.c')
    if ('unavailable' in addon) return addon
    return new LoopSockets(createRequire(import.meta.url)(addon.path) as SocketControl)
  }

  /**
   * The TCP sockets of the epoll set `poll` (a worker's loop), listening ones first; none when
   * `poll` is no epoll set any more. Call it only for a worker that has not ended: every epoll
   * descriptor has the same inode (the kernel's one anonymous inode), so a number reused by another
   * epoll set could not be told apart. (Each socket is named by its own inode, which is unique.)
   */
  tcpSockets(poll: SeenFd): { listening: SeenFd[]; connected: SeenFd[] } {
    const listening: SeenFd[] = []
    const connected: SeenFd[] = []
    let fdinfo: string
    try {
      if (seeFd(poll.fd).ino !== poll.ino) return { listening, connected }
      fdinfo = readFileSync(`/proc/self/fdinfo/${poll.fd}`, 'utf8')
    } catch {
      return { listening, connected }
    }
    for (const member of epollMembers(fdinfo)) {
      const state = this.control.state(member.fd, member.ino)
      if (state === 1) listening.push(member)
      else if (state === 0) connected.push(member)
    }
    return { listening, connected }
  }

  /**
   * Makes the port's SO_REUSEPORT group of the listening sockets in `poll` migrate the connections
   * queued on a listener that closes to another one (socket-control.c, migrate). Answers how queued
   * connections fare now: migrated by this, by the kernel's setting alone, or reset (with why).
   */
  migrateQueued(poll: SeenFd): { readonly outcome: QueuedConnections; readonly reason?: string } {
    const { listening } = this.tcpSockets(poll)
    let failure = listening.length === 0 ? 'no listening socket found in the worker' : ''
    for (const socket of listening) {
      const errno = this.control.migrate(socket.fd, socket.ino)
      if (errno === 0) return { outcome: 'migrated (eBPF)' }
      failure =
        errno === -1 ? 'the listening socket went away' : `attaching the program failed: errno ${errno}`
    }
    if (kernelMigrates()) return { outcome: 'migrated (net.ipv4.tcp_migrate_req)' }
    return { outcome: 'reset', reason: failure }
  }

  /**
   * Disconnects every TCP socket of `poll`: listeners first (they leave the port's group; what was
   * queued on them migrates where migrateQueued took), then connections (reset, their unread bytes
   * dropped). Answers how many of each.
   */
  disconnectAll(poll: SeenFd): { listeners: number; connections: number } {
    const { listening, connected } = this.tcpSockets(poll)
    let listeners = 0
    let connections = 0
    for (const socket of listening) if (this.control.disconnect(socket.fd, socket.ino) === 0) listeners++
    for (const socket of connected) if (this.control.disconnect(socket.fd, socket.ino) === 0) connections++
    return { listeners, connections }
  }
}

/** Whether the kernel migrates queued connections of a closed listener on its own (Linux >= 5.14, set to 1). */
export function kernelMigrates(): boolean {
  try {
    return readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim() === '1'
  } catch {
    return false
  }
}
