// Gloo communicator: rendezvous over our TCP store, collectives on a dedicated thread.
// bf16/fp16 reductions widen to an fp32 scratch buffer, reduce there and round once at the end,
// so the result does not depend on how many partial sums were rounded along the ring.
#include "comm/gloo_comm.h"

#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/store.h>
#include <gloo/transport/tcp/device.h>
#include <gloo/types.h>

#include <cstring>
#include <stdexcept>

#include "comm/half.h"
#include "cpu/dtype.h"
#include "memory.h"

namespace telechat {
namespace comm {

const char* comm_op_name(CommOp op) {
  switch (op) {
    case COP_ALLREDUCE: return "allReduce";
    case COP_REDUCE_SCATTER: return "reduceScatter";
    case COP_ALLGATHER: return "allGather";
    case COP_BROADCAST: return "broadcast";
    case COP_BARRIER: return "barrier";
  }
  return "collective";
}

namespace {

// Gloo's rendezvous reads and writes through this adapter, so the mesh set-up is
// authenticated by our store (and needs no second server).
class StoreAdapter : public gloo::rendezvous::Store {
 public:
  StoreAdapter(std::shared_ptr<TcpStoreClient> store, std::string prefix, std::chrono::milliseconds timeout)
      : store_(std::move(store)), prefix_(std::move(prefix)), timeout_(timeout) {}
  void set(const std::string& key, const std::vector<char>& data) override { store_->set(prefix_ + key, data); }
  std::vector<char> get(const std::string& key) override { return store_->get(prefix_ + key, timeout_); }
  void wait(const std::vector<std::string>& keys) override { wait(keys, timeout_); }
  void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) override {
    std::vector<std::string> full;
    for (const auto& k : keys) full.push_back(prefix_ + k);
    store_->wait(full, timeout);
  }

 private:
  std::shared_ptr<TcpStoreClient> store_;
  std::string prefix_;
  std::chrono::milliseconds timeout_;
};

// Element-wise reductions in Gloo's (out, a, b, n) form. int32 sums wrap like two's complement.
void sum_f32(void* o, const void* a, const void* b, size_t n) {
  float* out = static_cast<float*>(o);
  const float* x = static_cast<const float*>(a);
  const float* y = static_cast<const float*>(b);
  for (size_t i = 0; i < n; i++) out[i] = x[i] + y[i];
}
void max_f32(void* o, const void* a, const void* b, size_t n) {
  float* out = static_cast<float*>(o);
  const float* x = static_cast<const float*>(a);
  const float* y = static_cast<const float*>(b);
  for (size_t i = 0; i < n; i++) out[i] = x[i] > y[i] ? x[i] : y[i];
}
void sum_i32(void* o, const void* a, const void* b, size_t n) {
  uint32_t* out = static_cast<uint32_t*>(o);
  const uint32_t* x = static_cast<const uint32_t*>(a);
  const uint32_t* y = static_cast<const uint32_t*>(b);
  for (size_t i = 0; i < n; i++) out[i] = x[i] + y[i];
}
void max_i32(void* o, const void* a, const void* b, size_t n) {
  int32_t* out = static_cast<int32_t*>(o);
  const int32_t* x = static_cast<const int32_t*>(a);
  const int32_t* y = static_cast<const int32_t*>(b);
  for (size_t i = 0; i < n; i++) out[i] = x[i] > y[i] ? x[i] : y[i];
}

using ReduceFn = void (*)(void*, const void*, const void*, size_t);
ReduceFn reduce_fn(bool is_int, RedOp red) {
  if (is_int) return red == RED_MAX ? max_i32 : sum_i32;
  return red == RED_MAX ? max_f32 : sum_f32;
}

// Widen n elements of dtype dt to fp32 (ints are never widened; callers copy them).
void widen(float* dst, const void* src, size_t n, CommDType dt) {
  if (dt == CDT_F32) {
    std::memcpy(dst, src, n * 4);
  } else if (dt == CDT_BF16) {
    const uint16_t* s = static_cast<const uint16_t*>(src);
    for (size_t i = 0; i < n; i++) dst[i] = bf16_to_f32(s[i]);
  } else {
    const uint16_t* s = static_cast<const uint16_t*>(src);
    for (size_t i = 0; i < n; i++) dst[i] = f16_to_f32(s[i]);
  }
}
// Narrow n fp32 values to dtype dt, multiplying by `scale` first (1/size for averages).
void narrow(void* dst, const float* src, size_t n, CommDType dt, float scale) {
  if (dt == CDT_F32) {
    float* d = static_cast<float*>(dst);
    if (scale == 1.0f) std::memcpy(d, src, n * 4);
    else for (size_t i = 0; i < n; i++) d[i] = src[i] * scale;
  } else if (dt == CDT_BF16) {
    uint16_t* d = static_cast<uint16_t*>(dst);
    for (size_t i = 0; i < n; i++) d[i] = f32_to_bf16(src[i] * scale);
  } else {
    uint16_t* d = static_cast<uint16_t*>(dst);
    for (size_t i = 0; i < n; i++) d[i] = f32_to_f16(src[i] * scale);
  }
}

// Slot prefix of our ring reduce-scatter; Gloo's own collectives use small prefixes.
constexpr uint8_t kReduceScatterSlotPrefix = 0x5a;

}  // namespace

GlooComm::GlooComm(std::shared_ptr<TcpStoreClient> store, const std::string& prefix, int rank, int size,
                   const std::string& hostname, std::chrono::milliseconds timeout)
    : store_(std::move(store)), rank_(rank), size_(size) {
  if (size < 1 || rank < 0 || rank >= size) {
    throw std::runtime_error("communicator: rank " + std::to_string(rank) + " outside group of " + std::to_string(size));
  }
  if (size == 1) {  // a group of one needs no transport: every collective is a local copy
    thread_ = std::thread([this] { loop(); });
    return;
  }
  if (!store_) throw std::runtime_error("communicator: a group of " + std::to_string(size) + " needs a rendezvous store");
  gloo::transport::tcp::attr attr;
  attr.hostname = hostname;
  auto device = gloo::transport::tcp::CreateDevice(attr);
  auto ctx = std::make_shared<gloo::rendezvous::Context>(rank, size);
  ctx->setTimeout(timeout);
  StoreAdapter adapter(store_, "gloo/" + prefix + "/", timeout);
  try {
    ctx->connectFullMesh(adapter, device);
  } catch (const std::exception& e) {
    throw std::runtime_error("communicator set-up (group '" + prefix + "', rank " + std::to_string(rank) + " of " +
                             std::to_string(size) + ") failed: " + e.what());
  }
  ctx_ = ctx;
  thread_ = std::thread([this] { loop(); });
}

GlooComm::~GlooComm() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void GlooComm::submit(std::shared_ptr<Work> w) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) throw std::runtime_error("communicator already destroyed");
    queue_.push_back(std::move(w));
  }
  cv_.notify_all();
}

void GlooComm::loop() {
  for (;;) {
    std::shared_ptr<Work> w;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop requested and nothing left
      w = queue_.front();
      queue_.pop_front();
    }
    std::string err;
    try {
      run(*w);
    } catch (const std::exception& e) {
      err = std::string(comm_op_name(w->op)) + " failed on rank " + std::to_string(rank_) + " (group of " +
            std::to_string(size_) + ", timeout " + std::to_string(w->timeout.count()) + " ms): " + e.what();
    }
    w->finish(std::move(err));
  }
}

void GlooComm::run(Work& w) {
  if (w.dt == CDT_I32 && w.red == RED_AVG && (w.op == COP_ALLREDUCE || w.op == COP_REDUCE_SCATTER)) {
    throw std::runtime_error("avg is not defined for int32 (use sum and divide)");
  }
  switch (w.op) {
    case COP_ALLREDUCE: all_reduce(w); break;
    case COP_REDUCE_SCATTER: reduce_scatter(w); break;
    case COP_ALLGATHER: all_gather(w); break;
    case COP_BROADCAST: broadcast(w); break;
    case COP_BARRIER: barrier(w); break;
    default: throw std::runtime_error("unknown collective");
  }
}

void GlooComm::all_reduce(Work& w) {
  const size_t n = w.count;
  if (n == 0) return;
  const bool is_int = w.dt == CDT_I32;
  const float scale = w.red == RED_AVG ? 1.0f / static_cast<float>(size_) : 1.0f;
  // fp32 and int32 reduce in place in `out`; 16-bit types in an fp32 scratch buffer.
  Scratch wide(w.dt == CDT_BF16 || w.dt == CDT_F16 ? n * 4 : 0);
  void* buf = w.out;
  if (w.dt == CDT_BF16 || w.dt == CDT_F16) {
    widen(wide.as<float>(), w.in, n, w.dt);
    buf = wide.as<float>();
  } else if (w.in != w.out) {
    std::memcpy(w.out, w.in, n * 4);
  }
  if (size_ > 1) {
    gloo::AllreduceOptions opts(ctx_);
    if (is_int) opts.setOutput(static_cast<int32_t*>(buf), n);
    else opts.setOutput(static_cast<float*>(buf), n);
    opts.setReduceFunction(reduce_fn(is_int, w.red));
    opts.setTag(next_tag());
    opts.setTimeout(w.timeout);
    gloo::allreduce(opts);
  }
  if (w.dt != CDT_I32 && (buf != w.out || scale != 1.0f)) {
    narrow(w.out, static_cast<float*>(buf), n, w.dt, scale);
  }
}

// Ring reduce-scatter over Gloo's transport: size-1 steps; at step s a rank sends its partial
// sum of chunk (rank-s-1) to the right and adds the left neighbour's chunk (rank-s-2) into its
// own, so after the last step it holds the full reduction of chunk `rank`.
void GlooComm::reduce_scatter(Work& w) {
  const size_t n = w.count;
  if (n == 0) return;
  const size_t W = static_cast<size_t>(size_);
  const bool is_int = w.dt == CDT_I32;
  const float scale = w.red == RED_AVG ? 1.0f / static_cast<float>(size_) : 1.0f;
  Scratch acc(n * W * 4);
  if (is_int) std::memcpy(acc.as<char>(), w.in, n * W * 4);
  else widen(acc.as<float>(), w.in, n * W, w.dt);
  if (size_ > 1) {
    Scratch tmp(n * 4);
    const size_t chunk_bytes = n * 4;
    auto send_buf = ctx_->createUnboundBuffer(acc.as<char>(), n * W * 4);
    auto recv_buf = ctx_->createUnboundBuffer(tmp.as<char>(), chunk_bytes);
    const uint64_t slot = gloo::Slot::build(kReduceScatterSlotPrefix, next_tag());
    const size_t r = static_cast<size_t>(rank_);
    const int right = (rank_ + 1) % size_;
    const int left = (rank_ + size_ - 1) % size_;
    ReduceFn fn = reduce_fn(is_int, w.red);
    for (size_t s = 0; s + 1 < W; s++) {
      const size_t send_idx = (r + 2 * W - s - 1) % W;
      const size_t recv_idx = (r + 2 * W - s - 2) % W;
      send_buf->send(right, slot, send_idx * chunk_bytes, chunk_bytes);
      recv_buf->recv(left, slot, 0, chunk_bytes);
      recv_buf->waitRecv(w.timeout);
      char* target = acc.as<char>() + recv_idx * chunk_bytes;
      fn(target, target, tmp.as<char>(), n);
      send_buf->waitSend(w.timeout);
    }
  }
  const char* mine = acc.as<char>() + static_cast<size_t>(rank_) * n * 4;
  if (is_int) std::memcpy(w.out, mine, n * 4);
  else narrow(w.out, reinterpret_cast<const float*>(mine), n, w.dt, scale);
}

void GlooComm::all_gather(Work& w) {
  const size_t bytes = w.count * comm_dtype_size(w.dt);
  if (bytes == 0) return;
  if (size_ == 1) {
    if (w.out != w.in) std::memmove(w.out, w.in, bytes);
    return;
  }
  gloo::AllgatherOptions opts(ctx_);
  opts.setInput(static_cast<uint8_t*>(w.in), bytes);
  opts.setOutput(static_cast<uint8_t*>(w.out), bytes * static_cast<size_t>(size_));
  opts.setTag(next_tag());
  opts.setTimeout(w.timeout);
  gloo::allgather(opts);
}

void GlooComm::broadcast(Work& w) {
  const size_t bytes = w.count * comm_dtype_size(w.dt);
  if (w.root < 0 || w.root >= size_) {
    throw std::runtime_error("broadcast root " + std::to_string(w.root) + " outside group of " + std::to_string(size_));
  }
  if (bytes == 0 || size_ == 1) return;
  gloo::BroadcastOptions opts(ctx_);
  opts.setOutput(static_cast<uint8_t*>(w.out), bytes);
  opts.setRoot(w.root);
  opts.setTag(next_tag());
  opts.setTimeout(w.timeout);
  gloo::broadcast(opts);
}

void GlooComm::barrier(Work& w) {
  if (size_ == 1) return;
  gloo::BarrierOptions opts(ctx_);
  opts.setTag(next_tag());
  opts.setTimeout(w.timeout);
  gloo::barrier(opts);
}

}  // namespace comm
}  // namespace telechat
