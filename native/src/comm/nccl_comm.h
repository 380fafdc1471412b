// NCCL backend (CUDA): libnccl.so.2 is loaded with dlopen on first use. NcclComm is the thin
// layer over one ncclComm_t: unique-id exchange, init, and enqueueing a collective on a stream
// given by the caller. Streams, events, completion and timeouts belong to NcclAsyncComm
// (nccl_async.h). No CUDA call is made here, so all of it runs against a stand-in library.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "comm/comm.h"
#include "comm/nccl_api.h"
#include "comm/tcp_store.h"

namespace telechat {
namespace comm {

struct NcclLib {
  std::string path;
  int version = 0;
  NcclApi api{};
};

// Where libnccl.so.2 is looked for, in order: $TELECHAT_NCCL_PATH (a file or a directory),
// each $LD_LIBRARY_PATH directory, Python's nvidia/nccl/lib under the usual site-packages,
// then the system loader path.
std::vector<std::string> nccl_search_paths();
// Loads NCCL once; throws "NCCL not found, looked in: ..." naming every place tried.
const NcclLib& nccl_lib();

// NCCL's enum values for our dtype and reduce-op codes (comm.h); throw for ones NCCL lacks here.
ncclDataType_t nccl_dtype(CommDType dt);
ncclRedOp_t nccl_red_op(RedOp r);

class NcclComm {
 public:
  // Group rank 0 creates the unique id and publishes it under "nccl/<group>/unique_id" in the
  // store; the others read it (waiting up to `timeout`). A group of size 1 may pass no store:
  // the id is then created locally. The CUDA device must already be selected (NCCL binds the
  // communicator to the current device).
  NcclComm(TcpStoreClient* store, const std::string& group, int rank, int size, std::chrono::milliseconds timeout);
  ~NcclComm();
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  // Enqueues the collective on `stream` (device pointers; for broadcast only `out` is used, for
  // the barrier `out` is a 1-element int32 scratch). Same padding contract as Work. Throws
  // "ncclAllReduce: <NCCL's error string>" when NCCL refuses it.
  void enqueue(CommOp op, CommDType dt, RedOp red, const void* in, void* out, size_t count, int root, cudaStream_t stream);
  // ncclSuccess, or the asynchronous error the communicator hit (e.g. a peer died).
  ncclResult_t async_error();
  const char* error_string(ncclResult_t r) const { return lib_.api.getErrorString(r); }
  // Aborts in-flight work and releases the communicator (used on timeouts and async errors).
  void abort();
  bool aborted() const { return comm_ == nullptr; }
  int rank() const { return rank_; }
  int size() const { return size_; }

 private:
  const NcclLib& lib_;
  ncclComm_t comm_ = nullptr;
  int rank_;
  int size_;
};

}  // namespace comm
}  // namespace telechat
