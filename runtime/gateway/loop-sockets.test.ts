/**
 * Reading a worker's epoll set from /proc/self/fdinfo (loop-sockets.ts). What is done with its
 * sockets is tested with real workers in worker-restart.test.ts (a stopping worker's queued
 * connections, a stuck worker terminated under load).
 */
import { describe, expect, it } from 'vitest'
import { epollMembers } from './loop-sockets.ts'

describe('epollMembers', () => {
  it('lists the descriptors an epoll set watches with their inodes (hex in fdinfo), not the set itself', () => {
    // As Linux 6.18 writes it for an epoll descriptor: its own fields (its inode among them), then one tfd line per member.
    const fdinfo = [
      'pos:\t0',
      'flags:\t02000002',
      'mnt_id:\t17',
      'ino:\t1038',
      'tfd:       11 events:       19 data:                b  pos:0 ino:26ebd2 sdev:f',
      'tfd:       13 events:       19 data:                d  pos:0 ino:40e sdev:10',
      '',
    ].join('\n')
    expect(epollMembers(fdinfo)).toEqual([
      { fd: 11, ino: 0x26ebd2n },
      { fd: 13, ino: 0x40en },
    ])
  })

  it('finds none in an empty set or in the fdinfo of another kind of descriptor', () => {
    expect(epollMembers('pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t1038\n')).toEqual([])
    expect(epollMembers('pos:\t0\nflags:\t0100002\nmnt_id:\t25\nino:\t4213\n')).toEqual([])
  })
})
