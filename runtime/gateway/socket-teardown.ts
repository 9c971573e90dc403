/**
 * The native clean-up hook that lets a gateway worker thread be stopped from outside without
 * aborting the process (native/socket-teardown.c says why it is needed and what it does; decision
 * 0030, addendum "stopped from outside"), built by native-addon.ts. Without it, a worker stopped
 * from outside aborts the process as before, and the pool says so in its log. The loaded hook
 * also tells the worker's epoll descriptor (pollFd), through which the pool finds the worker's
 * sockets (loop-sockets.ts).
 */
import { type NativeAddon, nativeAddon } from './native-addon.ts'

/** The built hook's path, or why there is none. */
export type SocketTeardown = NativeAddon

/** What the hook exports once loaded in a worker thread. */
export interface SocketTeardownModule {
  /** The descriptor of this thread's epoll set (uv_backend_fd of its loop). */
  pollFd(): number
}

/** Builds the hook once per process (a cached build returns at once). Never rejects. */
export function socketTeardown(): Promise<SocketTeardown> {
  return nativeAddon('socket-teardown.c')
}
