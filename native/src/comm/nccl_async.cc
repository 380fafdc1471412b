// Stream/event ordering, polling and timeouts of NCCL collectives (see nccl_async.h).
#include "comm/nccl_async.h"

#include <algorithm>
#include <stdexcept>
#include <thread>

namespace telechat {
namespace comm {

NcclWork::~NcclWork() {
  if (done) comm->ops().event_destroy(done);
}

NcclAsyncComm::NcclAsyncComm(std::unique_ptr<NcclComm> comm, const StreamOps& ops) : comm_(std::move(comm)), ops_(ops) {}

NcclAsyncComm::~NcclAsyncComm() {
  comm_.reset();  // ncclCommDestroy (nothing when aborted) before its stream goes
  if (scratch_) ops_.free(scratch_);
  if (ready_) ops_.event_destroy(ready_);
  if (stream_) ops_.stream_destroy(stream_);
}

std::string NcclAsyncComm::prefix(CommOp op, std::chrono::milliseconds timeout) const {
  return std::string(comm_op_name(op)) + " failed on rank " + std::to_string(comm_->rank()) + " (group of " +
         std::to_string(comm_->size()) + ", timeout " + std::to_string(timeout.count()) + " ms): ";
}

void NcclAsyncComm::check(int code, const char* what, CommOp op, std::chrono::milliseconds timeout) const {
  if (code != 0) {
    throw std::runtime_error(prefix(op, timeout) + what + ": CUDA error " + std::to_string(code) + " (" +
                             ops_.error_string(code) + ")");
  }
}

void NcclAsyncComm::fail(const NcclWork& w, const std::string& why) {
  abort_reason_ = why;
  comm_->abort();
  throw std::runtime_error(prefix(w.op, w.timeout) + why + "; the communicator was aborted");
}

std::shared_ptr<NcclWork> NcclAsyncComm::submit(CommOp op, CommDType dt, RedOp red, const void* in, void* out,
                                                size_t count, int root, std::chrono::milliseconds timeout) {
  if (!abort_reason_.empty()) {
    throw std::runtime_error(prefix(op, timeout) + "the communicator was aborted after an earlier failure (" +
                             abort_reason_ + ")");
  }
  if (!stream_) {
    check(ops_.stream_create(&stream_), "creating the communication stream", op, timeout);
    check(ops_.event_create(&ready_), "creating the ordering event", op, timeout);
  }
  if (op == COP_BARRIER && !scratch_) {
    scratch_ = ops_.alloc(sizeof(int32_t));
    if (!scratch_) throw std::runtime_error(prefix(op, timeout) + "cannot allocate 4 bytes of device scratch");
  }
  auto w = std::make_shared<NcclWork>();
  w->comm = shared_from_this();
  w->op = op;
  w->timeout = timeout;
  w->deadline = std::chrono::steady_clock::now() + timeout;
  check(ops_.event_create(&w->done), "creating the completion event", op, timeout);
  // Everything queued on the legacy stream so far happens before the collective reads its input.
  check(ops_.event_record(ready_, ops_.legacy_stream), "recording on the legacy stream", op, timeout);
  check(ops_.stream_wait_event(stream_, ready_), "ordering the communication stream", op, timeout);
  try {
    comm_->enqueue(op, dt, red, in, op == COP_BARRIER ? scratch_ : out, count, root, stream_);
  } catch (const std::exception& e) {
    throw std::runtime_error(prefix(op, timeout) + e.what());
  }
  check(ops_.event_record(w->done, stream_), "recording the completion event", op, timeout);
  return w;
}

// Later work on the legacy stream (kernels, copies to the host) waits for the collective.
void NcclAsyncComm::order_after(NcclWork& w) {
  if (w.ordered) return;
  check(ops_.stream_wait_event(ops_.legacy_stream, w.done), "ordering the legacy stream after the collective", w.op,
        w.timeout);
  w.ordered = true;
}

bool NcclAsyncComm::is_done(NcclWork& w) {
  if (w.complete || !abort_reason_.empty()) return true;
  const int q = ops_.event_query(w.done);
  if (q == 0) w.complete = true;
  return q != ops_.not_ready;
}

bool NcclAsyncComm::poll(NcclWork& w) {
  if (w.complete) return true;
  order_after(w);
  const int q = ops_.event_query(w.done);
  if (q == 0) {
    w.complete = true;
    return true;
  }
  if (!abort_reason_.empty()) {
    throw std::runtime_error(prefix(w.op, w.timeout) + "the communicator was aborted after an earlier failure (" +
                             abort_reason_ + ")");
  }
  if (q != ops_.not_ready) {
    fail(w, "CUDA error " + std::to_string(q) + " (" + ops_.error_string(q) + ") while waiting for the collective");
  }
  const ncclResult_t e = comm_->async_error();
  if (e != ncclSuccess && e != ncclInProgress) fail(w, std::string("NCCL error: ") + comm_->error_string(e));
  if (std::chrono::steady_clock::now() >= w.deadline) {
    fail(w, "timed out (not complete within " + std::to_string(w.timeout.count()) +
                " ms; a peer may be dead, stuck or not calling this collective)");
  }
  return false;
}

void NcclAsyncComm::wait(NcclWork& w) {
  // Spin briefly (small collectives finish in microseconds), then sleep with a growing pause
  // capped at 1 ms so a long wait costs no CPU and a timeout is noticed within a millisecond.
  auto pause = std::chrono::microseconds(0);
  for (int spins = 0; !poll(w); spins++) {
    if (spins < 100) {
      std::this_thread::yield();
      continue;
    }
    pause = std::min(std::chrono::microseconds(1000), pause + std::chrono::microseconds(20));
    std::this_thread::sleep_for(pause);
  }
}

}  // namespace comm
}  // namespace telechat
