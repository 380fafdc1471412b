// A stand-in libnccl.so.2 for CPU tests: every symbol our loader resolves (native/src/comm/
// nccl_api.h), recording each call as one JSON line in $FAKE_NCCL_LOG/<pid>.jsonl so tests can
// check what our code passed (unique id bytes, ranks, dtype and op codes, streams). Collectives
// move no data. Knobs for error paths: FAKE_NCCL_INIT_RESULT / FAKE_NCCL_COLL_RESULT make
// ncclCommInitRank / every collective return that ncclResult_t; FAKE_NCCL_VERSION sets the version; fake_nccl_set_async_error()
// (for the C++ harness) sets what ncclCommGetAsyncError reports.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

extern "C" {
typedef struct {
  char internal[128];
} ncclUniqueId;
struct FakeComm {
  int nranks, rank;
};
}

namespace {

int g_async_error = 0;

std::string hex(const char* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; i++) {
    s += d[(static_cast<unsigned char>(p[i]) >> 4) & 15];
    s += d[static_cast<unsigned char>(p[i]) & 15];
  }
  return s;
}

// Appends one line (a single write, so concurrent processes never interleave).
void log_line(const std::string& json) {
  const char* dir = std::getenv("FAKE_NCCL_LOG");
  if (!dir || !*dir) return;
  const std::string path = std::string(dir) + "/" + std::to_string(getpid()) + ".jsonl";
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) return;
  const std::string line = json + "\n";
  if (write(fd, line.data(), line.size()) < 0) {
  }
  close(fd);
}

std::string ptr(const void* p) { return std::to_string(reinterpret_cast<unsigned long long>(p)); }

int knob(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : 0;
}

int collective(const char* fn, const void* send, void* recv, size_t count, int dtype, int op, int root, void* comm,
               void* stream) {
  log_line(std::string("{\"fn\":\"") + fn + "\",\"send\":" + ptr(send) + ",\"recv\":" + ptr(recv) +
           ",\"count\":" + std::to_string(count) + ",\"dtype\":" + std::to_string(dtype) + ",\"op\":" +
           std::to_string(op) + ",\"root\":" + std::to_string(root) + ",\"rank\":" +
           std::to_string(static_cast<FakeComm*>(comm)->rank) + ",\"stream\":" + ptr(stream) + "}");
  return knob("FAKE_NCCL_COLL_RESULT");
}

}  // namespace

extern "C" {

int ncclGetVersion(int* version) {
  *version = knob("FAKE_NCCL_VERSION") ? knob("FAKE_NCCL_VERSION") : 21903;  // 2.19.3
  return 0;
}

int ncclGetUniqueId(ncclUniqueId* id) {
  const int fd = open("/dev/urandom", O_RDONLY);
  if (fd < 0 || read(fd, id->internal, sizeof(id->internal)) != static_cast<ssize_t>(sizeof(id->internal))) return 2;
  close(fd);
  log_line("{\"fn\":\"ncclGetUniqueId\",\"id\":\"" + hex(id->internal, sizeof(id->internal)) + "\"}");
  return 0;
}

int ncclCommInitRank(void** comm, int nranks, ncclUniqueId id, int rank) {
  log_line("{\"fn\":\"ncclCommInitRank\",\"nranks\":" + std::to_string(nranks) + ",\"rank\":" + std::to_string(rank) +
           ",\"id\":\"" + hex(id.internal, sizeof(id.internal)) + "\"}");
  if (const int r = knob("FAKE_NCCL_INIT_RESULT")) return r;
  *comm = new FakeComm{nranks, rank};
  return 0;
}

int ncclCommDestroy(void* comm) {
  log_line("{\"fn\":\"ncclCommDestroy\",\"rank\":" + std::to_string(static_cast<FakeComm*>(comm)->rank) + "}");
  delete static_cast<FakeComm*>(comm);
  return 0;
}

int ncclCommAbort(void* comm) {
  log_line("{\"fn\":\"ncclCommAbort\",\"rank\":" + std::to_string(static_cast<FakeComm*>(comm)->rank) + "}");
  delete static_cast<FakeComm*>(comm);
  return 0;
}

int ncclCommGetAsyncError(void*, int* state) {
  *state = g_async_error;
  return 0;
}

// Distinct from NCCL's own wording, so a test can tell the text came from this library.
const char* ncclGetErrorString(int r) {
  switch (r) {
    case 0: return "fake-nccl: no error";
    case 1: return "fake-nccl: unhandled cuda error";
    case 2: return "fake-nccl: unhandled system error";
    case 3: return "fake-nccl: internal error";
    case 4: return "fake-nccl: invalid argument";
    case 5: return "fake-nccl: invalid usage";
    case 6: return "fake-nccl: remote process exited or there was a network error";
    case 7: return "fake-nccl: operation in progress";
  }
  return "fake-nccl: unknown result code";
}

int ncclAllReduce(const void* s, void* r, size_t n, int dt, int op, void* comm, void* stream) {
  return collective("ncclAllReduce", s, r, n, dt, op, -1, comm, stream);
}
int ncclReduceScatter(const void* s, void* r, size_t n, int dt, int op, void* comm, void* stream) {
  return collective("ncclReduceScatter", s, r, n, dt, op, -1, comm, stream);
}
int ncclAllGather(const void* s, void* r, size_t n, int dt, void* comm, void* stream) {
  return collective("ncclAllGather", s, r, n, dt, -1, -1, comm, stream);
}
int ncclBroadcast(const void* s, void* r, size_t n, int dt, int root, void* comm, void* stream) {
  return collective("ncclBroadcast", s, r, n, dt, -1, root, comm, stream);
}
int ncclGroupStart() { return 0; }
int ncclGroupEnd() { return 0; }

// Test control (not an NCCL symbol): what ncclCommGetAsyncError reports from now on.
void fake_nccl_set_async_error(int r) { g_async_error = r; }
}
