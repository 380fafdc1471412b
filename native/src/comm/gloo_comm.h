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
  void reduce_scatter(Work& w);
  void all_gather(Work& w);
  void broadcast(Work& w);
  void barrier(Work& w);
  uint32_t next_tag() { return tag_++; }
  char* workspace(size_t bytes);

  std::shared_ptr<TcpStoreClient> store_;
  std::shared_ptr<gloo::Context> ctx_;
  int rank_;
  int size_;
  uint32_t tag_ = 1;
  char* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Work>> queue_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace comm
}  // namespace telechat
