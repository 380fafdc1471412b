// Rendezvous store and communicator bindings. Native objects live in registries keyed by small
// integer ids; JS holds the ids and destroys them explicitly (src/dist owns the lifetimes).
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>

#include "bind/args.h"
#include "bind/bindings.h"
#include "bind/comm_registry.h"
#include "comm/gloo_comm.h"
#include "comm/tcp_store.h"

namespace telechat {
namespace {

using comm::GlooComm;
using comm::TcpStoreClient;
using comm::TcpStoreServer;
using comm::Work;

std::mutex g_mu;
std::unique_ptr<TcpStoreServer> g_server;
std::map<int, std::shared_ptr<TcpStoreClient>> g_stores;
// Heap-allocated and never destroyed: at process exit a comm thread may still be blocked in a
// collective, and joining it from a static destructor would hang the exit until its timeout.
std::map<int, std::unique_ptr<GlooComm>>& g_comms = *new std::map<int, std::unique_ptr<GlooComm>>();
std::map<int, std::shared_ptr<Work>> g_works;
int g_next_id = 1;

template <typename T>
T& lookup(std::map<int, T>& m, int64_t id, const char* what) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = m.find(static_cast<int>(id));
  if (it == m.end()) throw std::runtime_error(std::string("no such ") + what + " (id " + std::to_string(id) + "; closed already?)");
  return it->second;
}

std::string str_arg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::String>().Utf8Value(); }
std::chrono::milliseconds ms_arg(const Napi::CallbackInfo& info, size_t i) {
  return std::chrono::milliseconds(static_cast<int64_t>(num_arg(info, i)));
}

// Runs `fn`, turning C++ exceptions into one JS Error with the message.
template <typename F>
Napi::Value guarded(const Napi::CallbackInfo& info, F fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    Napi::Error::New(info.Env(), e.what()).ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
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
    std::lock_guard<std::mutex> lock(g_mu);
    int id = g_next_id++;
    g_stores[id] = c;
    return Napi::Number::New(info.Env(), id);
  });
}

Napi::Value StoreClose(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_stores.erase(static_cast<int>(int_arg(info, 0)));
  return info.Env().Undefined();
}

Napi::Value StoreSet(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto c = lookup(g_stores, int_arg(info, 0), "store client");
    Napi::Uint8Array v = info[2].As<Napi::Uint8Array>();
    const char* p = reinterpret_cast<const char*>(v.Data());
    c->set(str_arg(info, 1), std::vector<char>(p, p + v.ByteLength()));
    return info.Env().Undefined();
  });
}

Napi::Value StoreGet(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto c = lookup(g_stores, int_arg(info, 0), "store client");
    std::vector<char> v = c->get(str_arg(info, 1), ms_arg(info, 2));
    Napi::Uint8Array out = Napi::Uint8Array::New(info.Env(), v.size());
    if (!v.empty()) std::memcpy(out.Data(), v.data(), v.size());
    return out;
  });
}

Napi::Value StoreAdd(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto c = lookup(g_stores, int_arg(info, 0), "store client");
    return Napi::Number::New(info.Env(), static_cast<double>(c->add(str_arg(info, 1), int_arg(info, 2))));
  });
}

Napi::Value StoreWait(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto c = lookup(g_stores, int_arg(info, 0), "store client");
    Napi::Array arr = info[1].As<Napi::Array>();
    std::vector<std::string> keys;
    for (uint32_t i = 0; i < arr.Length(); i++) keys.push_back(arr.Get(i).As<Napi::String>().Utf8Value());
    c->wait(keys, ms_arg(info, 2));
    return info.Env().Undefined();
  });
}

Napi::Value StoreBarrier(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto c = lookup(g_stores, int_arg(info, 0), "store client");
    c->barrier(str_arg(info, 1), static_cast<int>(int_arg(info, 2)), ms_arg(info, 3));
    return info.Env().Undefined();
  });
}

Napi::Value StoreLocalAddress(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto c = lookup(g_stores, int_arg(info, 0), "store client");
    return Napi::String::New(info.Env(), c->local_address());
  });
}

// commCreate(storeId, groupName, rank, size, hostname, timeoutMs) -> id
Napi::Value CommCreate(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    std::shared_ptr<TcpStoreClient> store;
    if (int_arg(info, 0) >= 0) store = lookup(g_stores, int_arg(info, 0), "store client");
    auto comm = std::make_unique<GlooComm>(store, str_arg(info, 1), static_cast<int>(int_arg(info, 2)),
                                           static_cast<int>(int_arg(info, 3)), str_arg(info, 4), ms_arg(info, 5));
    std::lock_guard<std::mutex> lock(g_mu);
    int id = g_next_id++;
    g_comms[id] = std::move(comm);
    return Napi::Number::New(info.Env(), id);
  });
}

Napi::Value CommDestroy(const Napi::CallbackInfo& info) {
  std::unique_ptr<GlooComm> c;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = g_comms.find(static_cast<int>(int_arg(info, 0)));
    if (it != g_comms.end()) {
      c = std::move(it->second);
      g_comms.erase(it);
    }
  }
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
    GlooComm* c = lookup(g_comms, int_arg(info, 0), "communicator").get();
    c->submit(w);
    std::lock_guard<std::mutex> lock(g_mu);
    int id = g_next_id++;
    g_works[id] = w;
    return Napi::Number::New(info.Env(), id);
  });
}

std::shared_ptr<Work> take_work(int64_t id) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_works.find(static_cast<int>(id));
  if (it == g_works.end()) throw std::runtime_error("no such pending collective (waited on twice?)");
  auto w = it->second;
  g_works.erase(it);
  return w;
}

// commWait(workId): blocks until done; throws the collective's error.
Napi::Value CommWait(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto w = take_work(int_arg(info, 0));
    w->wait();
    if (!w->error.empty()) throw std::runtime_error(w->error);
    return info.Env().Undefined();
  });
}

Napi::Value CommIsDone(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto w = lookup(g_works, int_arg(info, 0), "pending collective");
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
    auto* worker = new WaitWorker(info.Env(), take_work(int_arg(info, 0)));
    Napi::Promise p = worker->promise();
    worker->Queue();
    return p;
  });
}

}  // namespace

std::shared_ptr<TcpStoreClient> store_client(int64_t id) { return lookup(g_stores, id, "store client"); }

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
