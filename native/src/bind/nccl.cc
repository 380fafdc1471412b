// NCCL bindings. ncclProbe (the loader, no GPU needed) is always registered; the communicator
// only in CUDA builds (TELECHAT_WITH_CUDA), where the stream/event calls of native/src/cuda
// exist. Communicators and in-flight collectives live in registries keyed by small integer ids;
// src/dist/nccl.ts owns their lifetimes. Every call runs on the JS thread (the one that selected
// the CUDA device); waitAsync polls from JS timers, so no CUDA call happens on another thread.
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>

#include "bind/args.h"
#include "bind/comm_registry.h"
#include "comm/nccl_comm.h"
#ifdef TELECHAT_WITH_CUDA
#include "comm/nccl_async.h"
#include "cuda/api.h"
#endif

namespace telechat {
namespace {

template <typename F>
Napi::Value guarded(const Napi::CallbackInfo& info, F fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    Napi::Error::New(info.Env(), e.what()).ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
}

// ncclProbe() -> { path, version }: loads libnccl.so.2 or throws listing where it looked.
Napi::Value NcclProbe(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const comm::NcclLib& lib = comm::nccl_lib();
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("path", lib.path);
    out.Set("version", lib.version);
    return out;
  });
}

#ifdef TELECHAT_WITH_CUDA
using comm::NcclAsyncComm;
using comm::NcclWork;

const comm::StreamOps& cuda_stream_ops() {
  static const comm::StreamOps ops = {
      cuda::legacy_stream(),
      cuda::kCudaNotReady,
      cuda::stream_create_nonblocking,
      cuda::stream_destroy,
      cuda::event_create,
      cuda::event_destroy,
      cuda::event_record,
      cuda::stream_wait_event,
      cuda::event_query,
      cuda::error_string,
      [](size_t bytes) { return cuda::device_alloc(static_cast<int64_t>(bytes), 5 /* buffers */, nullptr); },
      [](void* p) { cuda::device_free(p); },
  };
  return ops;
}

std::mutex g_mu;
// Heap-allocated and never destroyed: at process exit the CUDA runtime may already be gone, and
// ncclCommDestroy of a communicator with a dead peer could hang the exit.
std::map<int, std::shared_ptr<NcclAsyncComm>>& g_comms = *new std::map<int, std::shared_ptr<NcclAsyncComm>>();
std::map<int, std::shared_ptr<NcclWork>>& g_works = *new std::map<int, std::shared_ptr<NcclWork>>();
int g_next_id = 1;

std::shared_ptr<NcclWork> find_work(int64_t id) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_works.find(static_cast<int>(id));
  if (it == g_works.end()) throw std::runtime_error("no such pending NCCL collective (waited on already?)");
  return it->second;
}
void release_work(int64_t id) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_works.erase(static_cast<int>(id));
}

// ncclCommCreate(storeId | -1, group, rank, size, timeoutMs) -> id. Makes no CUDA call: the
// communication stream is created at the first collective.
Napi::Value NcclCommCreate(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    std::shared_ptr<comm::TcpStoreClient> store;
    if (int_arg(info, 0) >= 0) store = store_client(int_arg(info, 0));
    auto nccl = std::make_unique<comm::NcclComm>(store.get(), info[1].As<Napi::String>().Utf8Value(),
                                                 static_cast<int>(int_arg(info, 2)), static_cast<int>(int_arg(info, 3)),
                                                 std::chrono::milliseconds(int_arg(info, 4)));
    auto c = std::make_shared<NcclAsyncComm>(std::move(nccl), cuda_stream_ops());
    std::lock_guard<std::mutex> lock(g_mu);
    const int id = g_next_id++;
    g_comms[id] = std::move(c);
    return Napi::Number::New(info.Env(), id);
  });
}

// Drops the registry's reference; ncclCommDestroy runs once no pending collective holds it.
Napi::Value NcclCommDestroy(const Napi::CallbackInfo& info) {
  std::shared_ptr<NcclAsyncComm> c;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = g_comms.find(static_cast<int>(int_arg(info, 0)));
    if (it != g_comms.end()) {
      c = std::move(it->second);
      g_comms.erase(it);
    }
  }
  c.reset();
  return info.Env().Undefined();
}

// ncclCommSubmit(comm, op, dtype, redOp, in, out, count, root, timeoutMs) -> work id
Napi::Value NcclCommSubmit(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    std::shared_ptr<NcclAsyncComm> c;
    {
      std::lock_guard<std::mutex> lock(g_mu);
      auto it = g_comms.find(static_cast<int>(int_arg(info, 0)));
      if (it == g_comms.end()) throw std::runtime_error("no such NCCL communicator (destroyed already?)");
      c = it->second;
    }
    auto w = c->submit(static_cast<comm::CommOp>(int_arg(info, 1)), static_cast<comm::CommDType>(int_arg(info, 2)),
                       static_cast<comm::RedOp>(int_arg(info, 3)), ptr_arg(info, 4), ptr_arg(info, 5),
                       static_cast<size_t>(int_arg(info, 6)), static_cast<int>(int_arg(info, 7)),
                       std::chrono::milliseconds(int_arg(info, 8)));
    std::lock_guard<std::mutex> lock(g_mu);
    const int id = g_next_id++;
    g_works[id] = std::move(w);
    return Napi::Number::New(info.Env(), id);
  });
}

// ncclWorkWait(work): blocks until complete (bounded by the timeout); the work is released.
Napi::Value NcclWorkWait(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto w = find_work(int_arg(info, 0));
    release_work(int_arg(info, 0));
    w->comm->wait(*w);
    return info.Env().Undefined();
  });
}

// ncclWorkPoll(work) -> true when complete (then released); throws on timeout or error (released).
Napi::Value NcclWorkPoll(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto w = find_work(int_arg(info, 0));
    bool done = false;
    try {
      done = w->comm->poll(*w);
    } catch (...) {
      release_work(int_arg(info, 0));
      throw;
    }
    if (done) release_work(int_arg(info, 0));
    return Napi::Boolean::New(info.Env(), done);
  });
}

Napi::Value NcclWorkIsDone(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto w = find_work(int_arg(info, 0));
    return Napi::Boolean::New(info.Env(), w->comm->is_done(*w));
  });
}
#endif

}  // namespace

void register_nccl(Napi::Env env, Napi::Object exports) {
  exports.Set("ncclProbe", Napi::Function::New(env, NcclProbe));
#ifdef TELECHAT_WITH_CUDA
  exports.Set("ncclCommCreate", Napi::Function::New(env, NcclCommCreate));
  exports.Set("ncclCommDestroy", Napi::Function::New(env, NcclCommDestroy));
  exports.Set("ncclCommSubmit", Napi::Function::New(env, NcclCommSubmit));
  exports.Set("ncclWorkWait", Napi::Function::New(env, NcclWorkWait));
  exports.Set("ncclWorkPoll", Napi::Function::New(env, NcclWorkPoll));
  exports.Set("ncclWorkIsDone", Napi::Function::New(env, NcclWorkIsDone));
#endif
}

}  // namespace telechat
