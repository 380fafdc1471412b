// NCCL bindings. ncclProbe (the loader, no GPU needed) is always registered; the communicator
// only in CUDA builds (TELECHAT_WITH_CUDA), where the stream/event calls of native/src/cuda
// exist. Communicators and in-flight collectives live in registries keyed by small integer ids;
// src/dist/nccl.ts owns their lifetimes. Every call runs on the JS thread (the one that selected
// the CUDA device); waitAsync polls from JS timers, so no CUDA call happens on another thread.
#include <memory>
#include <stdexcept>

#include "bind/args.h"
#include "bind/comm_registry.h"
#include "bind/registry.h"
#include "comm/nccl_comm.h"
#ifdef TELECHAT_WITH_CUDA
#include "comm/nccl_async.h"
#include "cuda/api.h"
#endif

namespace telechat {
namespace {

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

// Heap-allocated and never destroyed: at process exit the CUDA runtime may already be gone, and
// ncclCommDestroy of a communicator with a dead peer could hang the exit.
Registry<NcclAsyncComm>& g_comms = *new Registry<NcclAsyncComm>("NCCL communicator");
Registry<NcclWork>& g_works = *new Registry<NcclWork>("pending NCCL collective");

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
    return Napi::Number::New(info.Env(), g_comms.add(std::move(c)));
  });
}

// Drops the registry's reference; ncclCommDestroy runs once no pending collective holds it.
Napi::Value NcclCommDestroy(const Napi::CallbackInfo& info) {
  g_comms.remove(int_arg(info, 0));
  return info.Env().Undefined();
}

// ncclCommSubmit(comm, op, dtype, redOp, in, out, count, root, timeoutMs) -> work id
Napi::Value NcclCommSubmit(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto w = g_comms.get(int_arg(info, 0))->submit(static_cast<comm::CommOp>(int_arg(info, 1)), static_cast<comm::CommDType>(int_arg(info, 2)),
                       static_cast<comm::RedOp>(int_arg(info, 3)), ptr_arg(info, 4), ptr_arg(info, 5),
                       static_cast<size_t>(int_arg(info, 6)), static_cast<int>(int_arg(info, 7)),
                       std::chrono::milliseconds(int_arg(info, 8)));
    return Napi::Number::New(info.Env(), g_works.add(std::move(w)));
  });
}

// ncclWorkWait(work): blocks until complete (bounded by the timeout); the work is released.
Napi::Value NcclWorkWait(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto w = g_works.take(int_arg(info, 0));
    w->comm->wait(*w);
    return info.Env().Undefined();
  });
}

// ncclWorkPoll(work) -> true when complete (then released); throws on timeout or error (released).
Napi::Value NcclWorkPoll(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto w = g_works.get(int_arg(info, 0));
    bool done = false;
    try {
      done = w->comm->poll(*w);
    } catch (...) {
      g_works.remove(int_arg(info, 0));
      throw;
    }
    if (done) g_works.remove(int_arg(info, 0));
    return Napi::Boolean::New(info.Env(), done);
  });
}

Napi::Value NcclWorkIsDone(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto w = g_works.get(int_arg(info, 0));
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
