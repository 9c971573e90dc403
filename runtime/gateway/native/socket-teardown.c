/*
 * Lets a gateway worker thread be stopped from outside (Worker.terminate(), V8 ending it for its
 * heap limit) without taking the whole process down (docs/decisions/0030-gateway-threads.md,
 * addendum "stopped from outside").
 *
 * Why it is needed: µWebSockets.js puts each of its sockets (the listen socket and every
 * connection) into the thread's libuv loop as a uv_poll_t. A thread stopped from outside runs no
 * more JavaScript, so nothing closes them, and µWebSockets.js's own environment clean-up hook
 * frees its apps and loop data but not its sockets. Node then closes the thread's loop with those
 * handles open, and CheckedUvLoopClose aborts the process ("uv_loop_close() while having open
 * handles").
 *
 * What it does: an asynchronous environment clean-up hook (Node-API, so one build serves every Node
 * version) that, when the thread's environment is torn down, closes every poll handle of the
 * loop whose descriptor is a socket and closes that descriptor (its client sees the connection
 * close, a listen socket leaves the port's SO_REUSEPORT group), and tells Node it is done once
 * libuv has finished closing them. In a worker that ended normally no such handle is left, so it
 * does nothing. The sockets' memory, owned by µSockets, is never freed: the thread is ending and
 * µWebSockets.js frees none of it there either.
 *
 * Load it after uWebSockets.js: Node runs clean-up hooks in the reverse order of registration, so
 * the sockets are closed before µWebSockets.js frees its socket contexts.
 *
 * It also exports pollFd(): the descriptor of the thread's epoll set (uv_backend_fd), in which
 * every socket of the thread is registered, so the thread that started it can find them (in
 * /proc/self/fdinfo) and act on them from outside (socket-control.c).
 */
#include <node_api.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

typedef struct {
  napi_async_cleanup_hook_handle hook;
  /* Handles still closing, plus one held while the walk runs. */
  int pending;
} teardown_t;

static void finish(teardown_t *teardown) {
  napi_remove_async_cleanup_hook(teardown->hook);
  free(teardown);
}

static void on_closed(uv_handle_t *handle) {
  teardown_t *teardown = handle->data;
  if (--teardown->pending == 0) finish(teardown);
}

static void close_socket_poll(uv_handle_t *handle, void *arg) {
  teardown_t *teardown = arg;
  if (handle->type != UV_POLL || uv_is_closing(handle)) return;
  uv_os_fd_t fd;
  struct stat info;
  if (uv_fileno(handle, &fd) != 0 || fstat(fd, &info) != 0 || !S_ISSOCK(info.st_mode)) return;
  /* The thread ends: µSockets reads this handle's data no more, so it can carry the count. */
  handle->data = teardown;
  teardown->pending++;
  /* Stops polling first (libuv forbids closing a descriptor it still polls), then the socket. */
  uv_close(handle, on_closed);
  close(fd);
}

static void teardown_sockets(napi_async_cleanup_hook_handle hook, void *arg) {
  uv_loop_t *loop = arg;
  teardown_t *teardown = malloc(sizeof *teardown);
  if (teardown == NULL) {
    napi_remove_async_cleanup_hook(hook);
    return;
  }
  teardown->hook = hook;
  teardown->pending = 1;
  uv_walk(loop, close_socket_poll, teardown);
  if (--teardown->pending == 0) finish(teardown);
}

static napi_value poll_fd(napi_env env, napi_callback_info info) {
  uv_loop_t *loop;
  napi_value result;
  if (napi_get_cb_info(env, info, NULL, NULL, NULL, (void **)&loop) != napi_ok) return NULL;
  napi_create_int32(env, uv_backend_fd(loop), &result);
  return result;
}

NAPI_MODULE_INIT() {
  uv_loop_t *loop;
  napi_value fn;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return NULL;
  if (napi_add_async_cleanup_hook(env, teardown_sockets, loop, NULL) != napi_ok) return NULL;
  if (napi_create_function(env, "pollFd", NAPI_AUTO_LENGTH, poll_fd, loop, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "pollFd", fn) != napi_ok)
    return NULL;
  return exports;
}
