// NCCL backend (CUDA): libnccl.so.2 is loaded with dlopen on first use. Collectives are
// enqueued on the caller's CUDA stream (the engine gives communication its own stream so it
// overlaps compute); completion and timeouts are the stream owner's business, helped by
// check_async_error / abort for a dead or stuck peer.
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

class NcclComm {
 public:
  // Rank 0 creates the unique id and publishes it under `prefix` in the store.
  NcclComm(TcpStoreClient& store, const std::string& prefix, int rank, int size, std::chrono::milliseconds timeout);
  ~NcclComm();
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  // Enqueues the collective on `stream` (device pointers). Same padding contract as Work.
  void enqueue(CommOp op, CommDType dt, RedOp red, const void* in, void* out, size_t count, int root, cudaStream_t stream);
  // Throws when the communicator hit an asynchronous error (e.g. a peer died).
  void check_async_error(const char* op);
  // Aborts in-flight work (used when a collective passes its timeout).
  void abort();

 private:
  const NcclLib& lib_;
  ncclComm_t comm_ = nullptr;
  int rank_;
  int size_;
};

}  // namespace comm
}  // namespace telechat
