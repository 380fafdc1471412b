// Gloo (CPU, TCP transport) communicator. Collectives run on a dedicated thread in
// submission order, so every rank executes them in the same order and async work overlaps
// compute on the caller's thread.
#pragma once
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "comm/comm.h"
#include "comm/tcp_store.h"

namespace gloo {
class Context;
}

namespace telechat {
namespace comm {

// Grow-only host buffer reused across collectives: fresh pages on every call cost more than the
// transfer at mid sizes (see GlooComm::ring_all_reduce). Counted as MEM_BUFFERS.
class HostScratch {
 public:
  HostScratch() = default;
  ~HostScratch();
  HostScratch(const HostScratch&) = delete;
  HostScratch& operator=(const HostScratch&) = delete;
  char* get(size_t bytes);

 private:
  char* ptr_ = nullptr;
  size_t bytes_ = 0;
};

class GlooComm {
 public:
  // Rendezvous through `store` under `prefix` (a group id); blocks until all `size` members
  // have connected or `timeout` passes. `hostname` is the local interface address to use.
  GlooComm(std::shared_ptr<TcpStoreClient> store, const std::string& prefix, int rank, int size,
           const std::string& hostname, std::chrono::milliseconds timeout);
  ~GlooComm();
  GlooComm(const GlooComm&) = delete;
  GlooComm& operator=(const GlooComm&) = delete;

  void submit(std::shared_ptr<Work> w);
  int rank() const { return rank_; }
  int size() const { return size_; }

 private:
  void loop();
  void run(Work& w);
  void all_reduce(Work& w);
  void ring_all_reduce(char* buf, size_t n, bool is_int, RedOp red, std::chrono::milliseconds timeout);
  void reduce_scatter(Work& w);
  void all_gather(Work& w);
  void broadcast(Work& w);
  void barrier(Work& w);
  uint32_t next_tag() { return tag_++; }

  std::shared_ptr<TcpStoreClient> store_;
  std::shared_ptr<gloo::Context> ctx_;
  int rank_;
  int size_;
  uint32_t tag_ = 1;
  // Only the comm thread touches these. workspace_: fp32 copies of 16-bit buffers and the
  // reduce-scatter partial sums; ring_scratch_: the two segments allReduce receives into.
  HostScratch workspace_;
  HostScratch ring_scratch_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Work>> queue_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace comm
}  // namespace telechat
