// Collective communication: the types shared by the Gloo (CPU) and NCCL (CUDA) backends.
//
// A collective is described by a Work item and executed on the communicator's own thread
// (CPU) so that it overlaps with compute on the caller's thread; the caller waits on it.
// Padding contract: reduceScatter takes count*size input elements and returns count; allGather
// takes count and returns count*size. Callers with uneven lengths pad the flat buffer up to a
// multiple of the group size (zeros for sums) and ignore the tail.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>

namespace telechat {
namespace comm {

enum CommDType : int { CDT_F32 = 0, CDT_BF16 = 1, CDT_F16 = 2, CDT_I32 = 3 };
enum CommOp : int { COP_ALLREDUCE = 0, COP_REDUCE_SCATTER = 1, COP_ALLGATHER = 2, COP_BROADCAST = 3, COP_BARRIER = 4 };
enum RedOp : int { RED_SUM = 0, RED_AVG = 1, RED_MAX = 2 };

inline size_t comm_dtype_size(CommDType dt) { return dt == CDT_BF16 || dt == CDT_F16 ? 2 : 4; }
inline const char* comm_op_name(CommOp op) {
  switch (op) {
    case COP_ALLREDUCE: return "allReduce";
    case COP_REDUCE_SCATTER: return "reduceScatter";
    case COP_ALLGATHER: return "allGather";
    case COP_BROADCAST: return "broadcast";
    case COP_BARRIER: return "barrier";
  }
  return "collective";
}

struct Work {
  CommOp op;
  CommDType dt;
  RedOp red;
  void* in;      // allReduce: may equal out; broadcast/barrier: unused
  void* out;
  size_t count;  // elements per rank (see the padding contract above)
  int root;      // broadcast only
  std::chrono::milliseconds timeout;

  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::string error;  // empty on success

  void finish(std::string err) {
    std::lock_guard<std::mutex> lock(mu);
    error = std::move(err);
    done = true;
    cv.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [this] { return done; });
  }
  bool is_done() {
    std::lock_guard<std::mutex> lock(mu);
    return done;
  }
};

}  // namespace comm
}  // namespace telechat
