// TCP rendezvous store: server (poll loop on its own thread) and blocking client.
#include "comm/tcp_store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>

namespace telechat {
namespace comm {
namespace {

using Clock = std::chrono::steady_clock;

// ---- encoding ----------------------------------------------------------------------------

void put_u32(std::vector<char>& b, uint32_t v) {
  for (int i = 0; i < 4; i++) b.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_i64(std::vector<char>& b, int64_t v) {
  uint64_t u = static_cast<uint64_t>(v);
  for (int i = 0; i < 8; i++) b.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
}
void put_bytes(std::vector<char>& b, const char* p, size_t n) {
  put_u32(b, static_cast<uint32_t>(n));
  b.insert(b.end(), p, p + n);
}
void put_str(std::vector<char>& b, const std::string& s) { put_bytes(b, s.data(), s.size()); }

// Reads fields from a payload; any overrun marks the frame malformed.
struct Reader {
  const char* p;
  size_t n;
  size_t at = 0;
  bool bad = false;
  uint32_t u32() {
    if (at + 4 > n) { bad = true; return 0; }
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= static_cast<uint32_t>(static_cast<uint8_t>(p[at + i])) << (8 * i);
    at += 4;
    return v;
  }
  int64_t i64() {
    if (at + 8 > n) { bad = true; return 0; }
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[at + i])) << (8 * i);
    at += 8;
    return static_cast<int64_t>(v);
  }
  uint8_t u8() {
    if (at + 1 > n) { bad = true; return 0; }
    return static_cast<uint8_t>(p[at++]);
  }
  std::string str(size_t limit) {
    uint32_t len = u32();
    if (bad || len > limit || at + len > n) { bad = true; return {}; }
    std::string s(p + at, len);
    at += len;
    return s;
  }
};

std::vector<char> frame(const std::vector<char>& payload) {
  std::vector<char> f;
  f.reserve(payload.size() + 4);
  put_u32(f, static_cast<uint32_t>(payload.size()));
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}

std::vector<char> reply_ok() { return {static_cast<char>(ST_OK)}; }
std::vector<char> reply_error(const std::string& msg) {
  std::vector<char> r{static_cast<char>(ST_ERROR)};
  put_str(r, msg);
  return r;
}
std::vector<char> reply_timeout() { return {static_cast<char>(ST_TIMEOUT)}; }

bool constant_time_equal(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); i++) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string peer_name(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
    port = ntohs(a->sin6_port);
  }
  return std::string(host) + ":" + std::to_string(port);
}

// ---- server state ------------------------------------------------------------------------

struct Conn {
  int fd;
  std::string peer;
  bool authed = false;
  int rank = -1;
  std::vector<char> in;   // bytes received, not yet parsed
  std::vector<char> out;  // bytes to send
  size_t out_at = 0;
  bool closing = false;   // close once `out` is flushed
};

struct Waiter {
  Conn* conn;
  bool is_get;                  // GET replies with the value; WAIT with ok
  std::vector<std::string> keys;
  Clock::time_point deadline;
};

}  // namespace

TcpStoreServer::TcpStoreServer(int port, int world_size, std::string secret)
    : port_(port), world_size_(world_size), secret_(std::move(secret)) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error(std::string("rendezvous: socket() failed: ") + strerror(errno));
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    close(listen_fd_);
    if (err == EADDRINUSE) {
      throw std::runtime_error("rendezvous: port " + std::to_string(port) +
                               " is already in use on this host (MASTER_PORT); another job may be running: "
                               "choose a free port with --master-port");
    }
    throw std::runtime_error("rendezvous: cannot bind port " + std::to_string(port) + ": " + strerror(err));
  }
  if (listen(listen_fd_, 1024) != 0) {
    int err = errno;
    close(listen_fd_);
    throw std::runtime_error(std::string("rendezvous: listen failed: ") + strerror(err));
  }
  if (pipe2(wake_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) {
    close(listen_fd_);
    throw std::runtime_error("rendezvous: pipe failed");
  }
  fcntl(listen_fd_, F_SETFL, O_NONBLOCK);
  thread_ = std::thread([this] { loop(); });
}

TcpStoreServer::~TcpStoreServer() {
  char c = 1;
  if (write(wake_pipe_[1], &c, 1) < 0) { /* the loop also stops on close below */ }
  if (thread_.joinable()) thread_.join();
  close(wake_pipe_[0]);
  close(wake_pipe_[1]);
  close(listen_fd_);
}

void TcpStoreServer::loop() {
  std::map<std::string, std::vector<char>> data;
  std::vector<std::unique_ptr<Conn>> conns;
  std::vector<Waiter> waiters;
  std::map<int, Conn*> rank_owner;

  auto send = [](Conn* c, const std::vector<char>& payload) {
    std::vector<char> f = frame(payload);
    c->out.insert(c->out.end(), f.begin(), f.end());
  };
  auto refuse = [&](Conn* c, const std::string& why) {
    refused_++;
    std::fprintf(stderr, "telechat rendezvous: refused connection from %s: %s\n", c->peer.c_str(), why.c_str());
    send(c, reply_error("refused by rendezvous master: " + why));
    c->closing = true;
  };
  // A misconfigured job (a peer with the run's secret but another WORLD_SIZE, or a rank outside
  // it) can never complete: every wait ends now with the reason, and every later request gets it,
  // so rank 0 stops with the same message instead of waiting out the rendezvous timeout.
  std::string fatal;
  auto fail_job = [&](Conn* c, const std::string& why) {
    refuse(c, why);
    fatal = why;
    for (auto& w : waiters) send(w.conn, reply_error("rendezvous failed: " + why));
    waiters.clear();
  };
  auto present = [&](const std::vector<std::string>& keys) {
    for (const auto& k : keys) if (!data.count(k)) return false;
    return true;
  };
  // Answers every waiter whose keys now all exist.
  auto wake_waiters = [&]() {
    for (auto it = waiters.begin(); it != waiters.end();) {
      if (present(it->keys)) {
        if (it->is_get) {
          std::vector<char> r = reply_ok();
          const auto& v = data[it->keys[0]];
          put_bytes(r, v.data(), v.size());
          send(it->conn, r);
        } else {
          send(it->conn, reply_ok());
        }
        it = waiters.erase(it);
      } else {
        ++it;
      }
    }
  };

  // Handles one complete request payload; returns false when the frame is malformed.
  auto handle = [&](Conn* c, const char* p, size_t n) -> bool {
    Reader r{p, n};
    uint8_t op = r.u8();
    if (!c->authed) {
      if (op != OP_HELLO) { refuse(c, "first message is not a hello"); return true; }
      std::string secret = r.str(1024);
      int64_t rank = r.i64();
      int64_t world = r.i64();
      if (r.bad || r.at != n) { refuse(c, "malformed hello"); return true; }
      if (!constant_time_equal(secret, secret_)) { refuse(c, "wrong run secret"); return true; }
      if (!fatal.empty()) { refuse(c, fatal); return true; }
      if (world != world_size_) {
        fail_job(c, "world size mismatch: the master (rank 0) has WORLD_SIZE " + std::to_string(world_size_) +
                        " but rank " + std::to_string(rank) + " has WORLD_SIZE " + std::to_string(world));
        return true;
      }
      if (rank >= world || rank < -1) {
        fail_job(c, "rank " + std::to_string(rank) + " out of range for WORLD_SIZE " + std::to_string(world));
        return true;
      }
      if (rank >= 0) {
        if (rank_owner.count(static_cast<int>(rank))) {
          refuse(c, "duplicate rank " + std::to_string(rank) + " (already connected from " +
                        rank_owner[static_cast<int>(rank)]->peer + ")");
          return true;
        }
        rank_owner[static_cast<int>(rank)] = c;
      }
      c->authed = true;
      c->rank = static_cast<int>(rank);
      send(c, reply_ok());
      return true;
    }
    if (!fatal.empty()) {
      send(c, reply_error("rendezvous failed: " + fatal));
      return true;
    }
    switch (op) {
      case OP_SET: {
        std::string key = r.str(kMaxKeyBytes);
        std::string val = r.str(kMaxValueBytes);
        if (r.bad || r.at != n) return false;
        data[key] = std::vector<char>(val.begin(), val.end());
        send(c, reply_ok());
        wake_waiters();
        return true;
      }
      case OP_ADD: {
        std::string key = r.str(kMaxKeyBytes);
        int64_t delta = r.i64();
        if (r.bad || r.at != n) return false;
        int64_t v = 0;
        auto it = data.find(key);
        if (it != data.end()) {
          if (it->second.size() != 8) { send(c, reply_error("add on key '" + key + "' that holds a non-counter value")); return true; }
          Reader rv{it->second.data(), 8};
          v = rv.i64();
        }
        v += delta;
        std::vector<char> enc;
        put_i64(enc, v);
        data[key] = enc;
        std::vector<char> rep = reply_ok();
        put_i64(rep, v);
        send(c, rep);
        wake_waiters();
        return true;
      }
      case OP_GET:
      case OP_WAIT: {
        std::vector<std::string> keys;
        if (op == OP_GET) {
          keys.push_back(r.str(kMaxKeyBytes));
        } else {
          uint32_t nk = r.u32();
          if (nk > kMaxWaitKeys) return false;
          for (uint32_t i = 0; i < nk && !r.bad; i++) keys.push_back(r.str(kMaxKeyBytes));
        }
        int64_t timeout_ms = r.i64();
        if (r.bad || r.at != n || timeout_ms < 0) return false;
        waiters.push_back({c, op == OP_GET, keys, Clock::now() + std::chrono::milliseconds(timeout_ms)});
        wake_waiters();
        return true;
      }
      default:
        return false;
    }
  };

  auto drop = [&](Conn* c) {
    waiters.erase(std::remove_if(waiters.begin(), waiters.end(), [c](const Waiter& w) { return w.conn == c; }), waiters.end());
    if (c->rank >= 0 && rank_owner.count(c->rank) && rank_owner[c->rank] == c) rank_owner.erase(c->rank);
    close(c->fd);
    conns.erase(std::remove_if(conns.begin(), conns.end(), [c](const std::unique_ptr<Conn>& x) { return x.get() == c; }), conns.end());
  };

  std::vector<char> buf(1 << 16);
  for (;;) {
    // Poll timeout: the nearest waiter deadline.
    int timeout_ms = -1;
    auto now = Clock::now();
    for (const auto& w : waiters) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(w.deadline - now).count();
      ms = std::max<int64_t>(0, ms) + 1;
      if (timeout_ms < 0 || ms < timeout_ms) timeout_ms = static_cast<int>(std::min<int64_t>(ms, 1 << 30));
    }
    std::vector<pollfd> fds;
    fds.push_back({wake_pipe_[0], POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    for (const auto& c : conns) {
      short ev = POLLIN;
      if (c->out_at < c->out.size()) ev |= POLLOUT;
      fds.push_back({c->fd, ev, 0});
    }
    int rc = poll(fds.data(), fds.size(), timeout_ms);
    if (rc < 0 && errno != EINTR) break;
    if (fds[0].revents) break;  // shutdown
    if (fds[1].revents & POLLIN) {
      for (;;) {
        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) break;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        auto c = std::make_unique<Conn>();
        c->fd = fd;
        c->peer = peer_name(fd);
        conns.push_back(std::move(c));
      }
    }
    // Service connections (indices 2.. of fds match conns as they were before accepting).
    std::vector<Conn*> to_drop;
    for (size_t i = 2; i < fds.size(); i++) {
      Conn* c = conns[i - 2].get();
      short re = fds[i].revents;
      if (!re) continue;
      if (re & POLLOUT) {
        while (c->out_at < c->out.size()) {
          ssize_t w = ::send(c->fd, c->out.data() + c->out_at, c->out.size() - c->out_at, MSG_NOSIGNAL);
          if (w <= 0) break;
          c->out_at += static_cast<size_t>(w);
        }
        if (c->out_at == c->out.size()) { c->out.clear(); c->out_at = 0; }
      }
      if (re & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t got = recv(c->fd, buf.data(), buf.size(), 0);
        if (got <= 0) {
          if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) { to_drop.push_back(c); continue; }
        } else if (!c->closing) {
          c->in.insert(c->in.end(), buf.data(), buf.data() + got);
          size_t at = 0;
          bool bad = false;
          while (c->in.size() - at >= 4) {
            Reader hr{c->in.data() + at, 4};
            uint32_t len = hr.u32();
            size_t limit = c->authed ? kMaxFrameBytes : 2048;  // strangers get tiny frames
            if (len > limit) { bad = true; break; }
            if (c->in.size() - at - 4 < len) break;
            if (!handle(c, c->in.data() + at + 4, len)) { bad = true; break; }
            at += 4 + len;
            if (c->closing) break;
          }
          c->in.erase(c->in.begin(), c->in.begin() + static_cast<std::ptrdiff_t>(at));
          if (bad) {
            if (c->out_at < c->out.size()) {  // best effort: deliver replies already queued
              ssize_t w = ::send(c->fd, c->out.data() + c->out_at, c->out.size() - c->out_at, MSG_NOSIGNAL);
              (void)w;
            }
            std::fprintf(stderr, "telechat rendezvous: closing connection from %s (rank %d): malformed frame\n",
                         c->peer.c_str(), c->rank);
            if (!c->authed) refused_++;
            to_drop.push_back(c);
            continue;
          }
        }
      }
      // Flush immediately what we can (most replies are tiny).
      while (c->out_at < c->out.size()) {
        ssize_t w = ::send(c->fd, c->out.data() + c->out_at, c->out.size() - c->out_at, MSG_NOSIGNAL);
        if (w <= 0) break;
        c->out_at += static_cast<size_t>(w);
      }
      if (c->out_at == c->out.size()) {
        c->out.clear();
        c->out_at = 0;
        if (c->closing) to_drop.push_back(c);
      }
    }
    // Replies produced for other connections by wake_waiters are flushed on their POLLOUT.
    for (Conn* c : to_drop) drop(c);
    // Expired waiters.
    now = Clock::now();
    for (auto it = waiters.begin(); it != waiters.end();) {
      if (it->deadline <= now) {
        send(it->conn, reply_timeout());
        it = waiters.erase(it);
      } else {
        ++it;
      }
    }
  }
  // Shutdown: deliver what is still queued first. A barrier's last arrival queues the others'
  // releases for the next poll; rank 0 may already be through the barrier and stopping us.
  for (auto& c : conns) {
    while (c->out_at < c->out.size()) {
      ssize_t w = ::send(c->fd, c->out.data() + c->out_at, c->out.size() - c->out_at, MSG_NOSIGNAL);
      if (w <= 0) break;
      c->out_at += static_cast<size_t>(w);
    }
    close(c->fd);
  }
}

// ---- client ------------------------------------------------------------------------------

namespace {

void write_all(int fd, const char* p, size_t n, const std::string& endpoint) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) throw std::runtime_error("rendezvous: lost connection to the master at " + endpoint + ": " + strerror(errno));
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void read_all(int fd, char* p, size_t n, const std::string& endpoint) {
  while (n > 0) {
    ssize_t r = ::recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) throw std::runtime_error("rendezvous: the master at " + endpoint + " closed the connection (did rank 0 exit?)");
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      throw std::runtime_error("rendezvous: no reply from " + endpoint +
                               " (is another program listening on MASTER_PORT?)");
    }
    if (r < 0) throw std::runtime_error("rendezvous: lost connection to the master at " + endpoint + ": " + strerror(errno));
    p += r;
    n -= static_cast<size_t>(r);
  }
}

}  // namespace

TcpStoreClient::TcpStoreClient(const std::string& host, int port, const std::string& secret, int rank, int world_size,
                               std::chrono::milliseconds timeout)
    : endpoint_(host + ":" + std::to_string(port)), timeout_(timeout) {
  auto deadline = Clock::now() + timeout;
  auto backoff = std::chrono::milliseconds(20);
  std::string last_error = "no attempt";
  for (;;) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int gai = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
    if (gai != 0) {
      last_error = std::string("cannot resolve host: ") + gai_strerror(gai);
    } else {
      for (addrinfo* a = res; a; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) { fd_ = fd; break; }
        last_error = strerror(errno);
        close(fd);
      }
      freeaddrinfo(res);
    }
    if (fd_ >= 0) break;
    if (Clock::now() + backoff > deadline) {
      char secs[32];
      std::snprintf(secs, sizeof(secs), "%g", static_cast<double>(timeout.count()) / 1000.0);
      throw std::runtime_error("rendezvous: cannot reach the master at " + endpoint_ + " after " + secs +
                               " s (last error: " + last_error +
                               "); check MASTER_ADDR/MASTER_PORT and that rank 0 is running");
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  char buf[INET6_ADDRSTRLEN] = "127.0.0.1";
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    if (ss.ss_family == AF_INET) inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof(buf));
    else if (ss.ss_family == AF_INET6) inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof(buf));
  }
  local_address_ = buf;
  std::vector<char> hello{static_cast<char>(OP_HELLO)};
  put_str(hello, secret);
  put_i64(hello, rank);
  put_i64(hello, world_size);
  // Bound the wait for the hello reply: something other than our master may hold the port.
  auto set_rcv_timeout = [this](std::chrono::milliseconds t) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(t.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  };
  set_rcv_timeout(std::max(std::chrono::milliseconds(1000),
                           std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now())));
  try {
    call(hello, "hello");
    set_rcv_timeout(std::chrono::milliseconds(0));
  } catch (...) {
    close(fd_);
    fd_ = -1;
    throw;
  }
}

TcpStoreClient::~TcpStoreClient() {
  if (fd_ >= 0) close(fd_);
}

std::vector<char> TcpStoreClient::call(const std::vector<char>& request, const std::string& what) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<char> f = frame(request);
  write_all(fd_, f.data(), f.size(), endpoint_);
  char hdr[4];
  read_all(fd_, hdr, 4, endpoint_);
  Reader hr{hdr, 4};
  uint32_t n = hr.u32();
  if (n == 0 || n > kMaxFrameBytes) throw std::runtime_error("rendezvous: malformed reply from " + endpoint_);
  std::vector<char> payload(n);
  read_all(fd_, payload.data(), n, endpoint_);
  uint8_t status = static_cast<uint8_t>(payload[0]);
  if (status == ST_ERROR) {
    Reader r{payload.data() + 1, n - 1};
    throw std::runtime_error("rendezvous (" + endpoint_ + "): " + r.str(n));
  }
  if (status == ST_TIMEOUT) throw std::runtime_error("rendezvous: timed out waiting for " + what);
  payload.erase(payload.begin());
  return payload;
}

void TcpStoreClient::set(const std::string& key, const std::vector<char>& value) {
  if (key.size() > kMaxKeyBytes) throw std::runtime_error("rendezvous: key longer than 4096 bytes");
  if (value.size() > kMaxValueBytes) throw std::runtime_error("rendezvous: value of '" + key + "' larger than 16 MiB");
  std::vector<char> req{static_cast<char>(OP_SET)};
  put_str(req, key);
  put_bytes(req, value.data(), value.size());
  call(req, "set '" + key + "'");
}

std::vector<char> TcpStoreClient::get(const std::string& key, std::chrono::milliseconds timeout) {
  std::vector<char> req{static_cast<char>(OP_GET)};
  put_str(req, key);
  put_i64(req, timeout.count());
  std::vector<char> r = call(req, "key '" + key + "' (" + std::to_string(timeout.count()) + " ms)");
  Reader rd{r.data(), r.size()};
  uint32_t len = rd.u32();
  if (rd.bad || len != r.size() - 4) throw std::runtime_error("rendezvous: malformed get reply");
  return std::vector<char>(r.begin() + 4, r.end());
}

int64_t TcpStoreClient::add(const std::string& key, int64_t delta) {
  std::vector<char> req{static_cast<char>(OP_ADD)};
  put_str(req, key);
  put_i64(req, delta);
  std::vector<char> r = call(req, "add '" + key + "'");
  Reader rd{r.data(), r.size()};
  int64_t v = rd.i64();
  if (rd.bad) throw std::runtime_error("rendezvous: malformed add reply");
  return v;
}

void TcpStoreClient::wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  std::vector<char> req{static_cast<char>(OP_WAIT)};
  put_u32(req, static_cast<uint32_t>(keys.size()));
  for (const auto& k : keys) put_str(req, k);
  put_i64(req, timeout.count());
  std::string what = keys.size() == 1 ? "key '" + keys[0] + "'" : std::to_string(keys.size()) + " keys";
  call(req, what + " (" + std::to_string(timeout.count()) + " ms)");
}

void TcpStoreClient::barrier(const std::string& name, int world_size, std::chrono::milliseconds timeout) {
  std::string key = "barrier/" + name;
  if (add(key, 1) == world_size) set(key + "/done", {'1'});
  wait({key + "/done"}, timeout);
}

}  // namespace comm
}  // namespace telechat
