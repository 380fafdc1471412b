// Runs native/src/comm/nccl_async.cc (ordering, polling, timeouts, aborts) and nccl_comm.cc
// (loader, id, enqueue) against the stand-in libnccl.so.2 and host stand-ins for the CUDA
// stream/event calls, which record every call. Prints one JSON object for the scenario named
// by argv[1]; test/dist/nccl.test.ts asserts on it (and on the library's call log).
#include <dlfcn.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "comm/nccl_async.h"
#include "comm/nccl_comm.h"

using namespace telechat::comm;

namespace {

// ---- host stand-ins for native/src/cuda/stream.cu ----
struct Handle {
  std::string name;
  bool complete = false;
};
std::vector<std::string> g_trace;
std::vector<std::unique_ptr<Handle>> g_handles;
Handle g_legacy{"legacy"};
bool g_complete_on_record = true;  // events complete as soon as recorded (an idle GPU)
int g_stream_create_result = 0;
int g_events = 0;
void* g_comm_stream = nullptr;

std::string name_of(void* h) { return static_cast<Handle*>(h)->name; }
Handle* make(const std::string& name) {
  g_handles.push_back(std::make_unique<Handle>(Handle{name}));
  return g_handles.back().get();
}

const StreamOps kOps = {
    &g_legacy,
    600,
    [](void** s) {
      if (g_stream_create_result) return g_stream_create_result;
      *s = g_comm_stream = make("comm");
      g_trace.push_back("stream_create comm");
      return 0;
    },
    [](void* s) {
      g_trace.push_back("stream_destroy " + name_of(s));
      return 0;
    },
    [](void** e) {
      *e = make("e" + std::to_string(g_events++));
      return 0;
    },
    [](void* e) {
      g_trace.push_back("event_destroy " + name_of(e));
      return 0;
    },
    [](void* e, void* s) {
      g_trace.push_back("record " + name_of(e) + " on " + name_of(s));
      static_cast<Handle*>(e)->complete = g_complete_on_record;
      return 0;
    },
    [](void* s, void* e) {
      g_trace.push_back("wait " + name_of(s) + " on " + name_of(e));
      return 0;
    },
    [](void* e) { return static_cast<Handle*>(e)->complete ? 0 : 600; },
    [](int code) { return code == 100 ? "fake-cuda: no CUDA-capable device is detected" : "fake-cuda: other error"; },
    [](size_t bytes) -> void* {
      g_trace.push_back("alloc " + std::to_string(bytes));
      return std::malloc(bytes);
    },
    [](void* p) { std::free(p); },
};

std::string quote(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o + "\"";
}
std::string list(const std::vector<std::string>& v) {
  std::string o = "[";
  for (size_t i = 0; i < v.size(); i++) o += (i ? "," : "") + quote(v[i]);
  return o + "]";
}

std::shared_ptr<NcclAsyncComm> world1() {
  return std::make_shared<NcclAsyncComm>(
      std::make_unique<NcclComm>(nullptr, "world", 0, 1, std::chrono::milliseconds(1000)), kOps);
}

void* const kIn = reinterpret_cast<void*>(0x1000);
void* const kOut = reinterpret_cast<void*>(0x2000);
const auto kTimeout = std::chrono::milliseconds(1000);

}  // namespace

int main(int argc, char** argv) {
  const std::string scenario = argc > 1 ? argv[1] : "";
  std::map<std::string, std::string> out;  // key -> JSON value
  try {
    if (scenario == "ops") {
      // Every op x dtype x reduce op; events complete at once, so each wait returns at its first poll.
      std::vector<std::string> errors;
      {
        auto c = world1();
        for (int op = 0; op <= 4; op++)
          for (int dt = 0; dt <= 3; dt++)
            for (int red = 0; red <= 2; red++) {
              if (op >= 2 && red > 0) continue;  // no reduce op for allGather, broadcast, barrier
              try {
                auto w = c->submit(static_cast<CommOp>(op), static_cast<CommDType>(dt), static_cast<RedOp>(red), kIn,
                                   kOut, 7, 0, kTimeout);
                c->wait(*w);
              } catch (const std::exception& e) {
                errors.push_back(e.what());
              }
            }
      }
      out["errors"] = list(errors);
    } else if (scenario == "order") {
      // One asynchronous allReduce: nothing blocks at submit; polls until the GPU "finishes".
      g_complete_on_record = false;
      auto c = world1();
      auto w = c->submit(COP_ALLREDUCE, CDT_BF16, RED_SUM, kOut, kOut, 5, 0, kTimeout);
      g_trace.push_back("-- submitted");
      const bool done0 = c->is_done(*w);
      const bool poll1 = c->poll(*w);
      const bool poll2 = c->poll(*w);
      static_cast<Handle*>(w->done)->complete = true;  // the collective finishes
      const bool done1 = c->is_done(*w);
      const bool poll3 = c->poll(*w);
      g_trace.push_back("-- done");
      auto b = c->submit(COP_BARRIER, CDT_I32, RED_SUM, nullptr, nullptr, 0, 0, kTimeout);
      static_cast<Handle*>(b->done)->complete = true;
      c->wait(*b);
      w.reset();
      b.reset();
      c.reset();
      out["flags"] = std::string("[") + (done0 ? "true" : "false") + "," + (poll1 ? "true" : "false") + "," +
                     (poll2 ? "true" : "false") + "," + (done1 ? "true" : "false") + "," + (poll3 ? "true" : "false") + "]";
    } else if (scenario == "timeout") {
      g_complete_on_record = false;  // a peer that never joins: the collective never completes
      auto c = world1();
      auto w = c->submit(COP_ALLREDUCE, CDT_F32, RED_SUM, kOut, kOut, 3, 0, std::chrono::milliseconds(150));
      const auto t0 = std::chrono::steady_clock::now();
      try {
        c->wait(*w);
        out["error"] = "null";
      } catch (const std::exception& e) {
        out["error"] = quote(e.what());
      }
      out["waited_ms"] = std::to_string(
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count());
      out["is_done_after"] = c->is_done(*w) ? "true" : "false";
      try {
        c->submit(COP_BROADCAST, CDT_F32, RED_SUM, kOut, kOut, 3, 0, kTimeout);
        out["next_error"] = "null";
      } catch (const std::exception& e) {
        out["next_error"] = quote(e.what());
      }
    } else if (scenario == "async_error") {
      g_complete_on_record = false;
      auto c = world1();
      auto w = c->submit(COP_REDUCE_SCATTER, CDT_F16, RED_MAX, kIn, kOut, 3, 0, std::chrono::milliseconds(60000));
      out["first_poll"] = c->poll(*w) ? "true" : "false";
      void* lib = dlopen(nccl_lib().path.c_str(), RTLD_NOW | RTLD_NOLOAD);
      auto set_error = reinterpret_cast<void (*)(int)>(lib ? dlsym(lib, "fake_nccl_set_async_error") : nullptr);
      if (!set_error) throw std::runtime_error("the stand-in library lacks fake_nccl_set_async_error");
      set_error(6);  // ncclRemoteError: a peer died
      const auto t0 = std::chrono::steady_clock::now();
      try {
        c->wait(*w);
        out["error"] = "null";
      } catch (const std::exception& e) {
        out["error"] = quote(e.what());
      }
      out["waited_ms"] = std::to_string(
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count());
    } else if (scenario == "cuda_error") {
      g_stream_create_result = 100;  // cudaErrorNoDevice
      auto c = world1();
      try {
        c->submit(COP_ALLGATHER, CDT_F32, RED_SUM, kIn, kOut, 3, 0, kTimeout);
        out["error"] = "null";
      } catch (const std::exception& e) {
        out["error"] = quote(e.what());
      }
    } else if (scenario == "enqueue_error") {
      auto c = world1();  // FAKE_NCCL_COLL_RESULT makes every collective fail
      try {
        c->submit(COP_ALLREDUCE, CDT_F32, RED_SUM, kOut, kOut, 3, 0, kTimeout);
        out["error"] = "null";
      } catch (const std::exception& e) {
        out["error"] = quote(e.what());
      }
    } else {
      throw std::runtime_error("unknown scenario '" + scenario + "'");
    }
  } catch (const std::exception& e) {
    out["fatal"] = quote(e.what());
  }
  out["trace"] = list(g_trace);
  out["comm_stream"] = std::to_string(reinterpret_cast<unsigned long long>(g_comm_stream));
  std::string json = "{";
  bool first = true;
  for (const auto& [k, v] : out) {
    json += (first ? "" : ",") + quote(k) + ":" + v;
    first = false;
  }
  std::printf("%s}\n", json.c_str());
  return out.count("fatal") ? 1 : 0;
}
