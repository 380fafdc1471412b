// Rendezvous store and communicator bindings. Native objects live in registries keyed by small
// integer ids; JS holds the ids and destroys them explicitly (src/dist owns the lifetimes).
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>

#include "bind/args.h"
#include "bind/bindings.h"
#include "bind/comm_registry.h"
#include "bind/registry.h"
#include "comm/gloo_comm.h"
#include "comm/tcp_store.h"

namespace telechat {
namespace {

using comm::GlooComm;
using comm::TcpStoreClient;
using comm::TcpStoreServer;
using comm::Work;

std::mutex g_mu;  // guards g_server
std::unique_ptr<TcpStoreServer> g_server;
Registry<TcpStoreClient> g_stores("store client");
// Heap-allocated and never destroyed: at process exit a comm thread may still be blocked in a
// collective, and joining it from a static destructor would hang the exit until its timeout.
Registry<GlooComm>& g_comms = *new Registry<GlooComm>("communicator");
Registry<Work> g_works("pending collective");

std::string str_arg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::String>().Utf8Value(); }
std::chrono::milliseconds ms_arg(const Napi::CallbackInfo& info, size_t i) {
  return std::chrono::milliseconds(static_cast<int64_t>(num_arg(info, i)));
}

Napi::Value StoreServerStart(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    std::lock_guard<std::mutex> lock(g_mu);
    if (g_server) throw std::runtime_error("rendezvous server already running in this process");
    g_server = std::make_unique<TcpStoreServer>(static_cast<int>(int_arg(info, 0)), static_cast<int>(int_arg(info, 1)),
                                                str_arg(info, 2));
    return info.Env().Undefined();
  });
}

Napi::Value StoreServerStop(const Napi::CallbackInfo& info) {
  std::unique_ptr<TcpStoreServer> s;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    s = std::move(g_server);
  }
  s.reset();
  return info.Env().Undefined();
}

Napi::Value StoreServerRefused(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(g_mu);
  return Napi::Number::New(info.Env(), g_server ? g_server->refused() : 0);
}

Napi::Value StoreConnect(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto c = std::make_shared<TcpStoreClient>(str_arg(info, 0), static_cast<int>(int_arg(info, 1)), str_arg(info, 2),
                                              static_cast<int>(int_arg(info, 3)), static_cast<int>(int_arg(info, 4)),
                                              ms_arg(info, 5));
    return Napi::Number::New(info.Env(), g_stores.add(std::move(c)));
  });
}

Napi::Value StoreClose(const Napi::CallbackInfo& info) {
  g_stores.remove(int_arg(info, 0));
  return info.Env().Undefined();
}

Napi::Value StoreSet(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto c = g_stores.get(int_arg(info, 0));
    Napi::Uint8Array v = info[2].As<Napi::Uint8Array>();
    const char* p = reinterpret_cast<const char*>(v.Data());
    c->set(str_arg(info, 1), std::vector<char>(p, p + v.ByteLength()));
    return info.Env().Undefined();
  });
}

Napi::Value StoreGet(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto c = g_stores.get(int_arg(info, 0));
    std::vector<char> v = c->get(str_arg(info, 1), ms_arg(info, 2));
    Napi::Uint8Array out = Napi::Uint8Array::New(info.Env(), v.size());
    if (!v.empty()) std::memcpy(out.Data(), v.data(), v.size());
    return out;
  });
}

Napi::Value StoreAdd(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto c = g_stores.get(int_arg(info, 0));
    return Napi::Number::New(info.Env(), static_cast<double>(c->add(str_arg(info, 1), int_arg(info, 2))));
  });
}

Napi::Value StoreWait(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto c = g_stores.get(int_arg(info, 0));
    Napi::Array arr = info[1].As<Napi::Array>();
    std::vector<std::string> keys;
    for (uint32_t i = 0; i < arr.Length(); i++) keys.push_back(arr.Get(i).As<Napi::String>().Utf8Value());
    c->wait(keys, ms_arg(info, 2));
    return info.Env().Undefined();
  });
}

Napi::Value StoreBarrier(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto c = g_stores.get(int_arg(info, 0));
    c->barrier(str_arg(info, 1), static_cast<int>(int_arg(info, 2)), ms_arg(info, 3));
    return info.Env().Undefined();
  });
}

Napi::Value StoreLocalAddress(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto c = g_stores.get(int_arg(info, 0));
    return Napi::String::New(info.Env(), c->local_address());
  });
}

// commCreate(storeId, groupName, rank, size, hostname, timeoutMs) -> id
Napi::Value CommCreate(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    std::shared_ptr<TcpStoreClient> store;
    if (int_arg(info, 0) >= 0) store = g_stores.get(int_arg(info, 0));
    auto comm = std::make_shared<GlooComm>(store, str_arg(info, 1), static_cast<int>(int_arg(info, 2)),
                                           static_cast<int>(int_arg(info, 3)), str_arg(info, 4), ms_arg(info, 5));
    return Napi::Number::New(info.Env(), g_comms.add(std::move(comm)));
  });
}

Napi::Value CommDestroy(const Napi::CallbackInfo& info) {
  std::shared_ptr<GlooComm> c = g_comms.remove(int_arg(info, 0));
  c.reset();  // joins the comm thread after queued work finishes
  return info.Env().Undefined();
}

// commSubmit(commId, op, dtype, redOp, in, out, count, root, timeoutMs) -> work id
Napi::Value CommSubmit(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto w = std::make_shared<Work>();
    w->op = static_cast<comm::CommOp>(int_arg(info, 1));
    w->dt = static_cast<comm::CommDType>(int_arg(info, 2));
    w->red = static_cast<comm::RedOp>(int_arg(info, 3));
    w->in = ptr_arg(info, 4);
    w->out = ptr_arg(info, 5);
    w->count = static_cast<size_t>(int_arg(info, 6));
    w->root = static_cast<int>(int_arg(info, 7));
    w->timeout = ms_arg(info, 8);
    g_comms.get(int_arg(info, 0))->submit(w);
    return Napi::Number::New(info.Env(), g_works.add(w));
  });
}

// commWait(workId): blocks until done; throws the collective's error.
Napi::Value CommWait(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto w = g_works.take(int_arg(info, 0));
    w->wait();
    if (!w->error.empty()) throw std::runtime_error(w->error);
    return info.Env().Undefined();
  });
}

Napi::Value CommIsDone(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto w = g_works.get(int_arg(info, 0));
    return Napi::Boolean::New(info.Env(), w->is_done());
  });
}

// Waits on a worker-pool thread and settles a Promise, leaving the JS thread free.
class WaitWorker : public Napi::AsyncWorker {
 public:
  WaitWorker(Napi::Env env, std::shared_ptr<Work> w) : Napi::AsyncWorker(env), w_(std::move(w)), deferred_(env) {}
  void Execute() override {
    w_->wait();
    if (!w_->error.empty()) SetError(w_->error);
  }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }
  Napi::Promise promise() { return deferred_.Promise(); }

 private:
  std::shared_ptr<Work> w_;
  Napi::Promise::Deferred deferred_;
};

Napi::Value CommWaitAsync(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto* worker = new WaitWorker(info.Env(), g_works.take(int_arg(info, 0)));
    Napi::Promise p = worker->promise();
    worker->Queue();
    return p;
  });
}

}  // namespace

std::shared_ptr<TcpStoreClient> store_client(int64_t id) { return g_stores.get(id); }

void register_comm(Napi::Env env, Napi::Object exports) {
  exports.Set("storeServerStart", Napi::Function::New(env, StoreServerStart));
  exports.Set("storeServerStop", Napi::Function::New(env, StoreServerStop));
  exports.Set("storeServerRefused", Napi::Function::New(env, StoreServerRefused));
  exports.Set("storeConnect", Napi::Function::New(env, StoreConnect));
  exports.Set("storeClose", Napi::Function::New(env, StoreClose));
  exports.Set("storeSet", Napi::Function::New(env, StoreSet));
  exports.Set("storeGet", Napi::Function::New(env, StoreGet));
  exports.Set("storeAdd", Napi::Function::New(env, StoreAdd));
  exports.Set("storeWait", Napi::Function::New(env, StoreWait));
  exports.Set("storeBarrier", Napi::Function::New(env, StoreBarrier));
  exports.Set("storeLocalAddress", Napi::Function::New(env, StoreLocalAddress));
  exports.Set("commCreate", Napi::Function::New(env, CommCreate));
  exports.Set("commDestroy", Napi::Function::New(env, CommDestroy));
  exports.Set("commSubmit", Napi::Function::New(env, CommSubmit));
  exports.Set("commWait", Napi::Function::New(env, CommWait));
  exports.Set("commIsDone", Napi::Function::New(env, CommIsDone));
  exports.Set("commWaitAsync", Napi::Function::New(env, CommWaitAsync));
  register_nccl(env, exports);
}

}  // namespace telechat
