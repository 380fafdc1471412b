// Asynchronous NCCL collectives on a communicator-owned CUDA stream, ordered against the
// legacy default stream where every kernel of the CUDA backend runs:
//
//   submit:  record `ready` on the legacy stream; the comm stream waits on it (the collective
//            sees everything computed before); enqueue the collective on the comm stream;
//            record the work's `done` event there. The host does not block.
//   wait:    the legacy stream waits on `done` (later compute sees the result), then the host
//            polls `done` until it completes, checking ncclCommGetAsyncError between polls;
//            past the collective's timeout, or on an async error, the communicator is aborted
//            and "<op> failed on rank R (group of W, timeout T ms): ..." is thrown.
//   poll:    one step of that loop (for a caller that waits without blocking its thread).
//
// The comm stream, the `ready` event and the barrier scratch are created at the first
// collective, so creating a communicator makes no CUDA call.
#pragma once
#include <chrono>
#include <memory>
#include <string>

#include "comm/comm.h"
#include "comm/nccl_comm.h"
#include "comm/stream_ops.h"

namespace telechat {
namespace comm {

class NcclAsyncComm;

// One submitted collective. Holds its communicator alive until released.
struct NcclWork {
  std::shared_ptr<NcclAsyncComm> comm;
  CommOp op;
  std::chrono::milliseconds timeout;
  std::chrono::steady_clock::time_point deadline;
  void* done = nullptr;   // event recorded on the comm stream after the collective
  bool ordered = false;   // the legacy stream already waits on `done`
  bool complete = false;  // `done` has been seen complete
  ~NcclWork();
};

class NcclAsyncComm : public std::enable_shared_from_this<NcclAsyncComm> {
 public:
  NcclAsyncComm(std::unique_ptr<NcclComm> comm, const StreamOps& ops);
  ~NcclAsyncComm();
  NcclAsyncComm(const NcclAsyncComm&) = delete;
  NcclAsyncComm& operator=(const NcclAsyncComm&) = delete;

  std::shared_ptr<NcclWork> submit(CommOp op, CommDType dt, RedOp red, const void* in, void* out, size_t count,
                                   int root, std::chrono::milliseconds timeout);
  // Whether `done` completed (true also once the work failed: wait/poll then report it).
  bool is_done(NcclWork& w);
  // One non-blocking step of wait(): true when complete; throws on timeout or error (after aborting).
  bool poll(NcclWork& w);
  // Blocks until complete, up to the work's timeout.
  void wait(NcclWork& w);

  const StreamOps& ops() const { return ops_; }
  NcclComm& nccl() { return *comm_; }

 private:
  [[noreturn]] void fail(const NcclWork& w, const std::string& why);
  std::string prefix(CommOp op, std::chrono::milliseconds timeout) const;
  void check(int code, const char* what, CommOp op, std::chrono::milliseconds timeout) const;
  void order_after(NcclWork& w);

  std::unique_ptr<NcclComm> comm_;
  const StreamOps& ops_;
  void* stream_ = nullptr;   // created at the first collective
  void* ready_ = nullptr;    // re-recorded on the legacy stream before each collective
  void* scratch_ = nullptr;  // barrier's one int32, allocated at the first barrier
  std::string abort_reason_;  // set once the communicator was aborted
};

}  // namespace comm
}  // namespace telechat
