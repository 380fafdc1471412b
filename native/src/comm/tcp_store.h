// Rendezvous key-value store over TCP, hosted by rank 0 (like torchrun's TCPStore).
//
// The server runs on its own thread with a poll() loop, so a rank blocked in collective set-up
// never starves it. Every connection must first present the run secret (HELLO); anything else
// is refused and logged. Frames are bounded; a malformed frame closes only its connection.
//
// Wire format (little endian): frame = u32 payload length, payload. Request payload = u8 op,
// then fields (strings as u32 length + bytes, integers as i64). Reply payload = u8 status
// (0 ok, 1 error + message, 2 timeout) then the op's result.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace telechat {
namespace comm {

constexpr size_t kMaxKeyBytes = 4096;
constexpr size_t kMaxValueBytes = 16u << 20;  // 16 MiB: addresses and ids, never tensors
constexpr size_t kMaxFrameBytes = kMaxValueBytes + 64 * 1024;
constexpr size_t kMaxWaitKeys = 4096;

enum StoreOp : uint8_t { OP_HELLO = 1, OP_SET = 2, OP_GET = 3, OP_ADD = 4, OP_WAIT = 5 };
enum StoreStatus : uint8_t { ST_OK = 0, ST_ERROR = 1, ST_TIMEOUT = 2 };

class TcpStoreServer {
 public:
  // Binds 0.0.0.0:port and starts the server thread. Throws with a clear message when the
  // port is in use.
  TcpStoreServer(int port, int world_size, std::string secret);
  ~TcpStoreServer();
  TcpStoreServer(const TcpStoreServer&) = delete;
  TcpStoreServer& operator=(const TcpStoreServer&) = delete;
  int port() const { return port_; }
  // Connections refused so far (bad secret or malformed hello); for tests and logs.
  int refused() const { return refused_.load(); }

 private:
  void loop();
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  int port_;
  int world_size_;
  std::string secret_;
  std::atomic<int> refused_{0};
  std::thread thread_;
};

class TcpStoreClient {
 public:
  // Connects (retrying with backoff until timeout) and authenticates. rank -1 is an auxiliary
  // connection that does not claim a rank.
  TcpStoreClient(const std::string& host, int port, const std::string& secret, int rank, int world_size,
                 std::chrono::milliseconds timeout);
  ~TcpStoreClient();
  TcpStoreClient(const TcpStoreClient&) = delete;
  TcpStoreClient& operator=(const TcpStoreClient&) = delete;

  void set(const std::string& key, const std::vector<char>& value);
  // Blocks until the key exists or the timeout passes (then throws naming the key).
  std::vector<char> get(const std::string& key, std::chrono::milliseconds timeout);
  int64_t add(const std::string& key, int64_t delta);
  void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout);
  // All world_size ranks meet at `name` (each name used once).
  void barrier(const std::string& name, int world_size, std::chrono::milliseconds timeout);
  // Local address of the connection to the master: the interface that reaches it.
  std::string local_address() const { return local_address_; }
  std::chrono::milliseconds default_timeout() const { return timeout_; }

 private:
  std::vector<char> call(const std::vector<char>& request, const std::string& what);
  int fd_ = -1;
  std::string endpoint_;
  std::string local_address_;
  std::chrono::milliseconds timeout_;
  std::mutex mu_;  // one request in flight per connection
};

}  // namespace comm
}  // namespace telechat
