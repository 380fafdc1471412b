// Gloo communicator: rendezvous over our TCP store, collectives on a dedicated thread.
// bf16/fp16 reductions widen to an fp32 scratch buffer, reduce there and round once at the end,
// so the result does not depend on how many partial sums were rounded along the ring.
#include "comm/gloo_comm.h"

#include <gloo/allgather.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/store.h>
#include <gloo/transport/tcp/device.h>
#include <gloo/types.h>

#include <algorithm>
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

// Slot prefixes of our ring collectives; Gloo's own collectives use small prefixes.
constexpr uint8_t kReduceScatterSlotPrefix = 0x5a;
constexpr uint8_t kAllReduceSlotPrefix = 0x5b;

// Largest piece of a chunk the allReduce ring moves at once (Gloo's default too): big enough
// that per-message overhead is small, small enough that two stay in L2 while they are reduced.
constexpr size_t kMaxSegmentBytes = size_t{1} << 20;

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

HostScratch::~HostScratch() {
  if (ptr_) host_free(ptr_);
}

char* HostScratch::get(size_t bytes) {
  if (bytes > bytes_) {
    if (ptr_) host_free(ptr_);
    ptr_ = nullptr;
    bytes_ = 0;
    ptr_ = static_cast<char*>(host_alloc(bytes, MEM_BUFFERS));
    bytes_ = bytes;
  }
  return ptr_;
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
    float* wide = reinterpret_cast<float*>(workspace_.get(n * 4));
    widen(wide, w.in, n, w.dt);
    buf = wide;
  } else if (w.in != w.out) {
    std::memcpy(w.out, w.in, n * 4);
  }
  if (size_ > 1) ring_all_reduce(static_cast<char*>(buf), n, is_int, w.red, w.timeout);
  if (w.dt != CDT_I32 && (buf != w.out || scale != 1.0f)) {
    narrow(w.out, static_cast<float*>(buf), n, w.dt, scale);
  }
}

// In-place ring allReduce of n 4-byte elements (fp32 or int32): a reduce-scatter, then an
// allgather, each in size-1 steps over the W chunks of the buffer. Every chunk is cut into
// segments of at most kMaxSegmentBytes (at least two per chunk) and a rank keeps two receives in
// flight, so the transfer of one segment overlaps the reduction of the one before.
//
// Why not gloo::allreduce, which runs the same ring: it allocates its two receive segments (up to
// 2 MiB) with new[] on every call. memory.cc pins glibc's mmap threshold at 1 MiB, so those were
// fresh pages each call: 513 minor page faults per allReduce of >= 4 MB on 2 ranks (torch's
// process, on the same libgloo, reuses heap memory and takes ~0), which made 4-16 MB ~1.5x slower
// than torch. Here the segments live in ring_scratch_, allocated once per communicator.
void GlooComm::ring_all_reduce(char* buf, size_t n, bool is_int, RedOp red, std::chrono::milliseconds timeout) {
  const size_t W = static_cast<size_t>(size_);
  const size_t r = static_cast<size_t>(rank_);
  const size_t chunk = (n + W - 1) / W;  // elements per chunk; the last ones may be short or empty
  const size_t segs = std::max<size_t>(2, (chunk * 4 + kMaxSegmentBytes - 1) / kMaxSegmentBytes);
  const size_t seg = (chunk + segs - 1) / segs;  // elements per segment
  const size_t steps = (W - 1) * segs;           // transfers per phase; transfer i is segment i % segs of step i / segs
  // Element range [first, last) of segment k of chunk c, clipped to the buffer (may be empty).
  struct Range {
    size_t first, last;
    bool empty() const { return first == last; }
  };
  auto range = [&](size_t c, size_t k) {
    return Range{std::min(n, c * chunk + std::min(chunk, k * seg)), std::min(n, c * chunk + std::min(chunk, (k + 1) * seg))};
  };
  char* tmp = ring_scratch_.get(2 * seg * 4);
  auto buf_ub = ctx_->createUnboundBuffer(buf, n * 4);
  auto tmp_ub = ctx_->createUnboundBuffer(tmp, 2 * seg * 4);
  const uint64_t slot = gloo::Slot::build(kAllReduceSlotPrefix, next_tag());
  const int right = (rank_ + 1) % size_;
  const int left = (rank_ + size_ - 1) % size_;
  const ReduceFn fn = reduce_fn(is_int, red);
  // Messages between two ranks on one slot arrive in the order they were posted, so each
  // waitRecv/waitSend below completes the oldest outstanding transfer of its kind.
  size_t sends = 0;  // posted sends not yet waited for
  auto send = [&](Range g) {
    if (g.empty()) return;
    buf_ub->send(right, slot, g.first * 4, (g.last - g.first) * 4);
    sends++;
  };
  // Keep at most two sends in flight (one more than the step in progress needs).
  auto bound_sends = [&](size_t most) {
    for (; sends > most; sends--) buf_ub->waitSend(timeout);
  };

  // Reduce-scatter. At step s a rank sends its partial sum of chunk (r - s) to the right and adds
  // the left neighbour's partial sum of chunk (r - s - 1) into its own; after W - 1 steps it holds
  // the full reduction of chunk (r + 1). Sending segment k of step s needs the reduction of segment
  // k of step s - 1, done two transfers or more earlier because segs >= 2; receive slot i % 2 is
  // free again once transfer i - 2 was reduced, at the end of the previous iteration.
  auto rs_send = [&](size_t i) { return range((r + W - i / segs) % W, i % segs); };
  auto rs_recv = [&](size_t i) { return range((r + 2 * W - i / segs - 1) % W, i % segs); };
  auto reduce_received = [&](size_t i) {
    const Range g = rs_recv(i);
    if (g.empty()) return;
    tmp_ub->waitRecv(timeout);
    char* mine = buf + g.first * 4;
    fn(mine, mine, tmp + (i % 2) * seg * 4, g.last - g.first);
  };
  for (size_t i = 0; i < steps; i++) {
    const Range in = rs_recv(i);
    if (!in.empty()) tmp_ub->recv(left, slot, (i % 2) * seg * 4, (in.last - in.first) * 4);
    send(rs_send(i));
    if (i > 0) reduce_received(i - 1);
    bound_sends(2);
  }
  reduce_received(steps - 1);
  bound_sends(0);  // the allgather below overwrites chunks sent above

  // Allgather. At step s a rank forwards the full reduction of chunk (r + 1 - s) and receives
  // chunk (r - s) straight into the buffer; forwarding segment k of step s needs its receive at
  // step s - 1, waited for at least one iteration earlier.
  auto ag_send = [&](size_t i) { return range((r + 1 + W - i / segs) % W, i % segs); };
  auto ag_recv = [&](size_t i) { return range((r + W - i / segs) % W, i % segs); };
  auto wait_received = [&](size_t i) {
    if (!ag_recv(i).empty()) buf_ub->waitRecv(timeout);
  };
  for (size_t i = 0; i < steps; i++) {
    const Range in = ag_recv(i);
    if (!in.empty()) buf_ub->recv(left, slot, in.first * 4, (in.last - in.first) * 4);
    send(ag_send(i));
    if (i > 0) wait_received(i - 1);
    bound_sends(2);
  }
  wait_received(steps - 1);
  bound_sends(0);
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
  char* ws = workspace_.get(2 * chunk_bytes);
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
