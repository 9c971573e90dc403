/*
 * Lets a gateway worker thread that reaches its V8 heap limit end without taking the whole process
 * down (docs/decisions/0030-gateway-threads.md, addendum "no queued connection reset, a stuck
 * worker's sockets cut first").
 *
 * Why it is needed: near its heap limit Node ends a worker thread as Worker.terminate() does (the
 * thread's JavaScript stops, its loop finishes the turn it is in), but from inside the thread, so
 * the pool cannot disconnect its sockets first (worker-pool.ts, terminate). A request µWebSockets.js
 * reads in the rest of that turn goes to a handler that cannot answer, and µWebSockets.js then ends
 * the process (std::terminate).
 *
 * What it does: a V8 near-heap-limit callback, registered after Node's own (V8 calls only the last
 * one registered), that disconnects every TCP socket of the thread's loop (connect AF_UNSPEC: the
 * listen socket leaves the port's SO_REUSEPORT group, its queued connections moving to another
 * worker where the pool attached the migration program; connections are reset, their unread bytes
 * dropped), so µWebSockets.js reads errors from then on, not requests; then it removes itself and
 * ends the thread's environment as Node's own callback does (node::Stop), returning a quarter more
 * heap for the JavaScript to unwind in. Node's callback, first again, is the one V8 calls should
 * the heap still reach the new limit. The sockets' descriptors stay open until the thread's clean-up
 * (socket-teardown.c) closes them. The thread then ends with exit code 0, as a stopped one does;
 * watch(flag) gives it an Int32Array (on a SharedArrayBuffer) whose first element it sets to 1
 * first, so the pool can tell why it ended.
 *
 * V8's and Node's C++ API (not Node-API): built per Node ABI by native-addon.ts with a C++ compiler.
 */
#include <node.h>
#include <sys/socket.h>
#include <uv.h>

#include <cstring>
#include <memory>

namespace {

struct Guard {
  v8::Isolate *isolate;
  node::Environment *env;
  uv_loop_t *loop;
  /** Where to say that the limit was reached (watch()), and what keeps that memory alive. */
  std::shared_ptr<v8::BackingStore> flag_store;
  int32_t *flag = nullptr;
};

void disconnect_tcp(uv_handle_t *handle, void *) {
  if (handle->type != UV_POLL || uv_is_closing(handle)) return;
  uv_os_fd_t fd;
  if (uv_fileno(handle, &fd) != 0) return;
  int value = 0;
  socklen_t length = sizeof value;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &value, &length) != 0 || (value != AF_INET && value != AF_INET6))
    return;
  length = sizeof value;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &length) != 0 || value != SOCK_STREAM) return;
  sockaddr unspecified;
  std::memset(&unspecified, 0, sizeof unspecified);
  unspecified.sa_family = AF_UNSPEC;
  connect(fd, &unspecified, sizeof unspecified);
}

size_t near_heap_limit(void *data, size_t current_limit, size_t) {
  auto *guard = static_cast<Guard *>(data);
  guard->isolate->RemoveNearHeapLimitCallback(near_heap_limit, 0);
  if (guard->flag != nullptr) __atomic_store_n(guard->flag, 1, __ATOMIC_SEQ_CST);
  uv_walk(guard->loop, disconnect_tcp, nullptr);
  node::Stop(guard->env);
  return current_limit + current_limit / 4;
}

void watch(const v8::FunctionCallbackInfo<v8::Value> &info) {
  auto *guard = static_cast<Guard *>(info.Data().As<v8::External>()->Value());
  if (info.Length() < 1 || !info[0]->IsInt32Array()) {
    info.GetIsolate()->ThrowException(v8::Exception::TypeError(
        v8::String::NewFromUtf8Literal(info.GetIsolate(), "expected an Int32Array")));
    return;
  }
  v8::Local<v8::Int32Array> array = info[0].As<v8::Int32Array>();
  guard->flag_store = array->Buffer()->GetBackingStore();
  guard->flag = reinterpret_cast<int32_t *>(static_cast<char *>(guard->flag_store->Data()) + array->ByteOffset());
}

}  // namespace

NODE_MODULE_INIT() {
  v8::Isolate *isolate = context->GetIsolate();
  auto *guard = new Guard{isolate, node::GetCurrentEnvironment(context), node::GetCurrentEventLoop(isolate)};
  isolate->AddNearHeapLimitCallback(near_heap_limit, guard);
  v8::Local<v8::Function> fn =
      v8::FunctionTemplate::New(isolate, watch, v8::External::New(isolate, guard))->GetFunction(context).ToLocalChecked();
  exports->Set(context, v8::String::NewFromUtf8Literal(isolate, "watch"), fn).Check();
  node::AddEnvironmentCleanupHook(
      isolate, [](void *data) { delete static_cast<Guard *>(data); }, guard);
}
