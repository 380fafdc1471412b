// NCCL loader and communicator. No NCCL header or library at build time: nccl_api.h holds
// our declarations and dlopen/dlsym resolve them from libnccl.so.2 when first needed.
#include "comm/nccl_comm.h"
#include "dynlib.h"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>

namespace telechat {
namespace comm {
namespace {

constexpr const char* kSoName = "libnccl.so.2";

// Python wheels (pip install nvidia-nccl-cu12) put the library in site-packages/nvidia/nccl/lib.
std::vector<std::string> python_nccl_dirs() {
  std::vector<std::string> dirs = python_package_dirs({"nvidia/nccl/lib"});
  if (const char* conda = std::getenv("CONDA_PREFIX")) dirs.push_back(std::string(conda) + "/lib");
  return dirs;
}

template <typename F>
void resolve(void* handle, const char* name, F& fn, const std::string& path) {
  void* sym = dlsym(handle, name);
  if (!sym) throw std::runtime_error(std::string("NCCL at ") + path + " lacks " + name + " (too old? need NCCL >= 2.7)");
  fn = reinterpret_cast<F>(sym);
}

NcclLib load_nccl() {
  std::vector<std::string> candidates = nccl_search_paths();
  std::string tried;
  for (const auto& c : candidates) {
    void* h = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!tried.empty()) tried += ", ";
    tried += c;
    if (!h) continue;
    NcclLib lib;
    lib.path = c;
    NcclApi& a = lib.api;
    resolve(h, "ncclGetVersion", a.getVersion, c);
    resolve(h, "ncclGetUniqueId", a.getUniqueId, c);
    resolve(h, "ncclCommInitRank", a.commInitRank, c);
    resolve(h, "ncclCommDestroy", a.commDestroy, c);
    resolve(h, "ncclCommAbort", a.commAbort, c);
    resolve(h, "ncclCommGetAsyncError", a.commGetAsyncError, c);
    resolve(h, "ncclGetErrorString", a.getErrorString, c);
    resolve(h, "ncclAllReduce", a.allReduce, c);
    resolve(h, "ncclReduceScatter", a.reduceScatter, c);
    resolve(h, "ncclAllGather", a.allGather, c);
    resolve(h, "ncclBroadcast", a.broadcast, c);
    resolve(h, "ncclGroupStart", a.groupStart, c);
    resolve(h, "ncclGroupEnd", a.groupEnd, c);
    a.getVersion(&lib.version);
    return lib;
  }
  throw std::runtime_error("NCCL not found, looked in: " + tried +
                           " (set TELECHAT_NCCL_PATH to libnccl.so.2 or its directory)");
}

ncclDataType_t nccl_type(CommDType dt) {
  switch (dt) {
    case CDT_F32: return ncclFloat32;
    case CDT_BF16: return ncclBfloat16;
    case CDT_F16: return ncclFloat16;
    case CDT_I32: return ncclInt32;
  }
  throw std::runtime_error("unknown dtype");
}

ncclRedOp_t nccl_op(RedOp r) { return r == RED_MAX ? ncclMax : r == RED_AVG ? ncclAvg : ncclSum; }

}  // namespace

std::vector<std::string> nccl_search_paths() {
  std::vector<std::string> out;
  if (const char* p = std::getenv("TELECHAT_NCCL_PATH"); p && *p) {
    out.push_back(is_dir(p) ? std::string(p) + "/" + kSoName : std::string(p));
  }
  if (const char* ld = std::getenv("LD_LIBRARY_PATH")) {
    for (const auto& d : split_list(ld, ':')) out.push_back(d + "/" + kSoName);
  }
  for (const auto& d : python_nccl_dirs()) out.push_back(d + "/" + kSoName);
  out.push_back(kSoName);  // the system loader path (ldconfig)
  return out;
}

const NcclLib& nccl_lib() {
  static std::mutex mu;
  static std::unique_ptr<NcclLib> lib;
  std::lock_guard<std::mutex> lock(mu);
  if (!lib) lib = std::make_unique<NcclLib>(load_nccl());  // a failure is retried next call
  return *lib;
}

#define NCCL_CHECK(call, what)                                                                            \
  do {                                                                                                    \
    ncclResult_t r_ = (call);                                                                             \
    if (r_ != ncclSuccess && r_ != ncclInProgress) {                                                      \
      throw std::runtime_error(std::string(what) + " failed on rank " + std::to_string(rank_) + ": " +    \
                               lib_.api.getErrorString(r_));                                              \
    }                                                                                                     \
  } while (0)

NcclComm::NcclComm(TcpStoreClient& store, const std::string& prefix, int rank, int size,
                   std::chrono::milliseconds timeout)
    : lib_(nccl_lib()), rank_(rank), size_(size) {
  ncclUniqueId id{};
  const std::string key = "nccl/" + prefix + "/unique_id";
  if (rank == 0) {
    NCCL_CHECK(lib_.api.getUniqueId(&id), "ncclGetUniqueId");
    store.set(key, std::vector<char>(id.internal, id.internal + sizeof(id.internal)));
  } else {
    std::vector<char> v = store.get(key, timeout);
    if (v.size() != sizeof(id.internal)) throw std::runtime_error("NCCL unique id in the store has the wrong size");
    std::memcpy(id.internal, v.data(), v.size());
  }
  NCCL_CHECK(lib_.api.commInitRank(&comm_, size, id, rank), "ncclCommInitRank");
}

NcclComm::~NcclComm() {
  if (comm_) lib_.api.commDestroy(comm_);
}

void NcclComm::enqueue(CommOp op, CommDType dt, RedOp red, const void* in, void* out, size_t count, int root,
                       cudaStream_t stream) {
  const char* name = comm_op_name(op);
  switch (op) {
    case COP_ALLREDUCE:
      NCCL_CHECK(lib_.api.allReduce(in, out, count, nccl_type(dt), nccl_op(red), comm_, stream), name);
      break;
    case COP_REDUCE_SCATTER:
      NCCL_CHECK(lib_.api.reduceScatter(in, out, count, nccl_type(dt), nccl_op(red), comm_, stream), name);
      break;
    case COP_ALLGATHER:
      NCCL_CHECK(lib_.api.allGather(in, out, count, nccl_type(dt), comm_, stream), name);
      break;
    case COP_BROADCAST:
      NCCL_CHECK(lib_.api.broadcast(out, out, count, nccl_type(dt), root, comm_, stream), name);
      break;
    case COP_BARRIER:
      // A one-element all-reduce on the stream orders everything before and after it.
      NCCL_CHECK(lib_.api.allReduce(out, out, 1, ncclInt32, ncclSum, comm_, stream), name);
      break;
  }
}

void NcclComm::check_async_error(const char* op) {
  ncclResult_t state = ncclSuccess;
  NCCL_CHECK(lib_.api.commGetAsyncError(comm_, &state), "ncclCommGetAsyncError");
  if (state != ncclSuccess && state != ncclInProgress) {
    throw std::runtime_error(std::string(op) + " failed on rank " + std::to_string(rank_) + " of " +
                             std::to_string(size_) + ": " + lib_.api.getErrorString(state));
  }
}

void NcclComm::abort() {
  if (comm_) {
    lib_.api.commAbort(comm_);
    comm_ = nullptr;
  }
}

}  // namespace comm
}  // namespace telechat
