/*
 * What the thread that owns the gateway's worker threads does to their TCP sockets from outside
 * them (docs/decisions/0030-gateway-threads.md, addendum "no queued connection reset, a stuck
 * worker's sockets cut first"). Sockets are process-wide, so any thread may act on them; which
 * descriptors belong to a worker comes from its event loop's epoll set (loop-sockets.ts), and every
 * call here names the descriptor with the inode it had there, so a descriptor closed and reused
 * meanwhile is left alone.
 *
 * migrate(fd, ino): attaches to the SO_REUSEPORT group of listening socket `fd` an eBPF program of
 *   type BPF_PROG_TYPE_SK_REUSEPORT, attach type BPF_SK_REUSEPORT_SELECT_OR_MIGRATE, that selects
 *   nothing ("return SK_PASS"): new connections are spread by the kernel's hash as before, and when
 *   a listener of the group closes, the connections queued on it (handshake done, not accepted yet,
 *   or in the handshake) move to another listener of the group instead of being reset: what
 *   net.ipv4.tcp_migrate_req = 1 does for every group (Linux >= 5.14). The program belongs to the
 *   group: it stays while any of its sockets listens. Needs CAP_BPF (or CAP_SYS_ADMIN).
 * disconnect(fd, ino): connect(fd, AF_UNSPEC), i.e. tcp_disconnect: a connection is reset and its
 *   received bytes that nobody read are dropped, so the owning thread's next read fails instead of
 *   returning a request; a listening socket stops listening and leaves its group (its queue moves
 *   elsewhere where migrate() applies). The descriptor stays open and valid: only its owning
 *   thread may close it (closing it here could let its number be reused under that thread).
 * Both answer 0 or an errno; -1 when `fd` is not (any more) a TCP socket with inode `ino`.
 * state(fd, ino): 1 for such a socket that listens, 0 for one that does not, -1 for none such.
 */
#include <errno.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <node_api.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SO_ATTACH_REUSEPORT_EBPF
#define SO_ATTACH_REUSEPORT_EBPF 52
#endif

/* 1: a TCP socket with inode `ino` that listens; 0: one that does not; -1: none such. */
static int tcp_socket_state(int fd, unsigned long long ino) {
  struct stat info;
  if (fstat(fd, &info) != 0 || !S_ISSOCK(info.st_mode) || (unsigned long long)info.st_ino != ino) return -1;
  int value = 0;
  socklen_t length = sizeof value;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &value, &length) != 0 || (value != AF_INET && value != AF_INET6))
    return -1;
  length = sizeof value;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &length) != 0 || value != SOCK_STREAM) return -1;
  length = sizeof value;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &length) != 0) return -1;
  return value ? 1 : 0;
}

static int migrate(int fd, unsigned long long ino) {
  if (tcp_socket_state(fd, ino) != 1) return -1;
  /* r0 = SK_PASS; exit: no socket selected, so the kernel picks one by hash, for a new
   * connection and for one migrating off a closed listener alike. */
  struct bpf_insn program[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = SK_PASS},
      {.code = BPF_JMP | BPF_EXIT},
  };
  union bpf_attr load;
  memset(&load, 0, sizeof load);
  load.prog_type = BPF_PROG_TYPE_SK_REUSEPORT;
  load.expected_attach_type = BPF_SK_REUSEPORT_SELECT_OR_MIGRATE;
  load.insn_cnt = sizeof program / sizeof program[0];
  load.insns = (unsigned long)program;
  load.license = (unsigned long)"GPL";
  int prog = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof load);
  if (prog < 0) return errno;
  /* The group keeps its own reference to the program. */
  int failed = setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, &prog, sizeof prog) != 0 ? errno : 0;
  close(prog);
  return failed;
}

static int disconnect(int fd, unsigned long long ino) {
  if (tcp_socket_state(fd, ino) < 0) return -1;
  struct sockaddr unspecified;
  memset(&unspecified, 0, sizeof unspecified);
  unspecified.sa_family = AF_UNSPEC;
  return connect(fd, &unspecified, sizeof unspecified) != 0 ? errno : 0;
}

/* (fd: number, ino: bigint) => number, for `op`. */
static napi_value call(napi_env env, napi_callback_info info, int (*op)(int, unsigned long long)) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd = -1;
  uint64_t ino = 0;
  bool lossless = false;
  napi_value result;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_bigint_uint64(env, argv[1], &ino, &lossless) != napi_ok || !lossless) {
    napi_throw_type_error(env, NULL, "expected (fd: number, ino: bigint)");
    return NULL;
  }
  napi_create_int32(env, op(fd, ino), &result);
  return result;
}

static napi_value js_state(napi_env env, napi_callback_info info) { return call(env, info, tcp_socket_state); }
static napi_value js_migrate(napi_env env, napi_callback_info info) { return call(env, info, migrate); }
static napi_value js_disconnect(napi_env env, napi_callback_info info) { return call(env, info, disconnect); }

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "state", NAPI_AUTO_LENGTH, js_state, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "state", fn) != napi_ok)
    return NULL;
  if (napi_create_function(env, "migrate", NAPI_AUTO_LENGTH, js_migrate, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "migrate", fn) != napi_ok)
    return NULL;
  if (napi_create_function(env, "disconnect", NAPI_AUTO_LENGTH, js_disconnect, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "disconnect", fn) != napi_ok)
    return NULL;
  return exports;
}
