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

#include "cpu/dtype.h"
#include "memory.h"

namespace telechat {
namespace comm {

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
  if (workspace_) host_free(workspace_);
}

// Grow-only fp32 workspace reused across collectives (fresh pages for every call cost more
// than the transfer on large buffers). Counted as MEM_BUFFERS; only the comm thread uses it.
char* GlooComm::workspace(size_t bytes) {
  if (bytes > workspace_bytes_) {
    if (workspace_) host_free(workspace_);
    workspace_ = nullptr;
    workspace_bytes_ = 0;
    workspace_ = static_cast<char*>(host_alloc(bytes, MEM_BUFFERS));
    workspace_bytes_ = bytes;
  }
  return workspace_;
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
  void* buf = w.out;
  if (w.dt == CDT_BF16 || w.dt == CDT_F16) {
    float* wide = reinterpret_cast<float*>(workspace(n * 4));
    widen(wide, w.in, n, w.dt);
    buf = wide;
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

// Ring reduce-scatter over Gloo's transport, in size-1 steps. At step s a rank sends its partial
// sum of chunk (rank-s-1) to the right and receives the left neighbour's partial sum of chunk
// (rank-s-2), adds its own input chunk to it, and sends that on at the next step; after the
// last step it holds the full reduction of chunk `rank`. Working memory: two fp32 chunks.
void GlooComm::reduce_scatter(Work& w) {
  const size_t n = w.count;
  if (n == 0) return;
  const size_t W = static_cast<size_t>(size_);
  const bool is_int = w.dt == CDT_I32;
  const bool wide_input = w.dt == CDT_F32 || is_int;  // input already in the accumulation type
  const float scale = w.red == RED_AVG ? 1.0f / static_cast<float>(size_) : 1.0f;
  const size_t chunk_bytes = n * 4;
  const size_t in_chunk_bytes = n * comm_dtype_size(w.dt);
  const char* in = static_cast<const char*>(w.in);
  char* ws = workspace(2 * chunk_bytes);
  char* acc = ws;                 // partial sum this rank sends next
  char* tmp = ws + chunk_bytes;   // partial sum received from the left
  ReduceFn fn = reduce_fn(is_int, w.red);
  // acc = received partial (tmp) + own input chunk idx
  auto accumulate = [&](size_t idx) {
    const char* mine = in + idx * in_chunk_bytes;
    if (wide_input) {
      fn(acc, tmp, mine, n);
    } else {
      float* a = reinterpret_cast<float*>(acc);
      const float* t = reinterpret_cast<const float*>(tmp);
      if (w.dt == CDT_BF16) {
        const uint16_t* m = reinterpret_cast<const uint16_t*>(mine);
        if (w.red == RED_MAX) for (size_t i = 0; i < n; i++) { float v = bf16_to_f32(m[i]); a[i] = t[i] > v ? t[i] : v; }
        else for (size_t i = 0; i < n; i++) a[i] = t[i] + bf16_to_f32(m[i]);
      } else {
        const uint16_t* m = reinterpret_cast<const uint16_t*>(mine);
        if (w.red == RED_MAX) for (size_t i = 0; i < n; i++) { float v = f16_to_f32(m[i]); a[i] = t[i] > v ? t[i] : v; }
        else for (size_t i = 0; i < n; i++) a[i] = t[i] + f16_to_f32(m[i]);
      }
    }
  };
  const size_t r = static_cast<size_t>(rank_);
  if (size_ == 1) {
    if (is_int) std::memcpy(acc, in, chunk_bytes);
    else widen(reinterpret_cast<float*>(acc), in, n, w.dt);
  } else {
    const uint64_t slot = gloo::Slot::build(kReduceScatterSlotPrefix, next_tag());
    const int right = (rank_ + 1) % size_;
    const int left = (rank_ + size_ - 1) % size_;
    auto acc_buf = ctx_->createUnboundBuffer(acc, chunk_bytes);
    auto tmp_buf = ctx_->createUnboundBuffer(tmp, chunk_bytes);
    // Step 0 sends this rank's own chunk (rank-1): straight from the input when it is 32-bit.
    const size_t first = (r + W - 1) % W;
    std::unique_ptr<gloo::transport::UnboundBuffer> in_buf;
    if (wide_input) {
      in_buf = ctx_->createUnboundBuffer(const_cast<char*>(in), n * W * 4);
    } else {
      widen(reinterpret_cast<float*>(acc), in + first * in_chunk_bytes, n, w.dt);
    }
    for (size_t s = 0; s + 1 < W; s++) {
      gloo::transport::UnboundBuffer* src = acc_buf.get();
      size_t offset = 0;
      if (s == 0 && in_buf) {
        src = in_buf.get();
        offset = first * chunk_bytes;
      }
      src->send(right, slot, offset, chunk_bytes);
      tmp_buf->recv(left, slot, 0, chunk_bytes);
      tmp_buf->waitRecv(w.timeout);
      src->waitSend(w.timeout);  // acc is rewritten next
      accumulate((r + 2 * W - s - 2) % W);
    }
  }
  if (is_int) std::memcpy(w.out, acc, chunk_bytes);
  else narrow(w.out, reinterpret_cast<const float*>(acc), n, w.dt, scale);
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
