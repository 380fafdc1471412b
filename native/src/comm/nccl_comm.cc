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

// Python wheels put the library in site-packages/nvidia/nccl/lib (nvidia-nccl-cu12) or, for the
// CUDA 13 wheels that share one folder, site-packages/nvidia/cu13/lib.
std::vector<std::string> python_nccl_dirs() {
  std::vector<std::string> dirs = python_package_dirs({"nvidia/nccl/lib", "nvidia/cu13/lib"});
  if (const char* conda = std::getenv("CONDA_PREFIX")) dirs.push_back(std::string(conda) + "/lib");
  return dirs;
}

template <typename F>
void resolve(void* handle, const char* name, F& fn, const std::string& path) {
  void* sym = dlsym(handle, name);
  if (!sym) throw std::runtime_error(std::string("NCCL at ") + path + " lacks " + name + " (too old? need NCCL >= 2.10)");
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
    // Codes are major*10000 + minor*100 + patch since 2.9 (major*1000 + ... before): bf16 and
    // ncclAvg need 2.10.
    if (lib.version < 21000) {
      throw std::runtime_error("NCCL at " + c + " is version code " + std::to_string(lib.version) +
                               "; need NCCL >= 2.10 (bf16 and avg)");
    }
    return lib;
  }
  throw std::runtime_error("NCCL not found, looked in: " + tried +
                           " (set TELECHAT_NCCL_PATH to libnccl.so.2 or its directory)");
}

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

ncclDataType_t nccl_dtype(CommDType dt) {
  switch (dt) {
    case CDT_F32: return ncclFloat32;
    case CDT_BF16: return ncclBfloat16;
    case CDT_F16: return ncclFloat16;
    case CDT_I32: return ncclInt32;
  }
  throw std::runtime_error("unknown dtype code " + std::to_string(static_cast<int>(dt)));
}

ncclRedOp_t nccl_red_op(RedOp r) {
  switch (r) {
    case RED_SUM: return ncclSum;
    case RED_AVG: return ncclAvg;
    case RED_MAX: return ncclMax;
  }
  throw std::runtime_error("unknown reduce op code " + std::to_string(static_cast<int>(r)));
}

namespace {
bool failed(ncclResult_t r) { return r != ncclSuccess && r != ncclInProgress; }
}  // namespace

NcclComm::NcclComm(TcpStoreClient* store, const std::string& group, int rank, int size,
                   std::chrono::milliseconds timeout)
    : lib_(nccl_lib()), rank_(rank), size_(size) {
  const std::string where = "NCCL group '" + group + "' rank " + std::to_string(rank) + " of " + std::to_string(size);
  if (size < 1 || rank < 0 || rank >= size) throw std::runtime_error(where + ": rank outside the group");
  if (!store && size > 1) throw std::runtime_error(where + ": a group of more than one rank needs the rendezvous store");
  ncclUniqueId id{};
  const std::string key = "nccl/" + group + "/unique_id";
  if (rank == 0) {
    ncclResult_t r = lib_.api.getUniqueId(&id);
    if (failed(r)) throw std::runtime_error(where + ": ncclGetUniqueId: " + lib_.api.getErrorString(r));
    if (store) store->set(key, std::vector<char>(id.internal, id.internal + sizeof(id.internal)));
  } else {
    std::vector<char> v = store->get(key, timeout);
    if (v.size() != sizeof(id.internal)) {
      throw std::runtime_error(where + ": the unique id under " + key + " has " + std::to_string(v.size()) +
                               " bytes, expected " + std::to_string(sizeof(id.internal)));
    }
    std::memcpy(id.internal, v.data(), v.size());
  }
  ncclResult_t r = lib_.api.commInitRank(&comm_, size, id, rank);
  if (failed(r)) {
    comm_ = nullptr;
    throw std::runtime_error(where + ": ncclCommInitRank: " + lib_.api.getErrorString(r));
  }
}

NcclComm::~NcclComm() {
  if (comm_) lib_.api.commDestroy(comm_);
}

void NcclComm::enqueue(CommOp op, CommDType dt, RedOp red, const void* in, void* out, size_t count, int root,
                       cudaStream_t stream) {
  if (!comm_) throw std::runtime_error("the communicator was aborted");
  if (dt == CDT_I32 && red == RED_AVG && (op == COP_ALLREDUCE || op == COP_REDUCE_SCATTER)) {
    throw std::runtime_error("avg is not defined for int32 (use sum and divide)");
  }
  const NcclApi& a = lib_.api;
  const char* fn = "";
  ncclResult_t r = ncclSuccess;
  switch (op) {
    case COP_ALLREDUCE:
      fn = "ncclAllReduce";
      r = a.allReduce(in, out, count, nccl_dtype(dt), nccl_red_op(red), comm_, stream);
      break;
    case COP_REDUCE_SCATTER:
      fn = "ncclReduceScatter";
      r = a.reduceScatter(in, out, count, nccl_dtype(dt), nccl_red_op(red), comm_, stream);
      break;
    case COP_ALLGATHER:
      fn = "ncclAllGather";
      r = a.allGather(in, out, count, nccl_dtype(dt), comm_, stream);
      break;
    case COP_BROADCAST:
      fn = "ncclBroadcast";
      r = a.broadcast(out, out, count, nccl_dtype(dt), root, comm_, stream);
      break;
    case COP_BARRIER:
      // NCCL has no barrier: a one-element all-reduce that every rank must join does the job.
      fn = "ncclAllReduce";
      r = a.allReduce(out, out, 1, ncclInt32, ncclSum, comm_, stream);
      break;
    default:
      throw std::runtime_error("unknown collective code " + std::to_string(static_cast<int>(op)));
  }
  if (failed(r)) throw std::runtime_error(std::string(fn) + ": " + a.getErrorString(r));
}

ncclResult_t NcclComm::async_error() {
  if (!comm_) return ncclSuccess;
  ncclResult_t state = ncclSuccess;
  ncclResult_t r = lib_.api.commGetAsyncError(comm_, &state);
  return failed(r) ? r : state;
}

void NcclComm::abort() {
  if (comm_) {
    lib_.api.commAbort(comm_);
    comm_ = nullptr;
  }
}

}  // namespace comm
}  // namespace telechat
