// Streams and events for communication that overlaps compute (the NCCL communicator,
// native/src/comm/nccl_async.cc): everything else runs on the legacy default stream.
#include <cuda_runtime.h>

#include "cuda/api.h"

namespace telechat {
namespace cuda {

static_assert(kCudaNotReady == static_cast<int>(cudaErrorNotReady), "api.h's kCudaNotReady must be cudaErrorNotReady");

void* legacy_stream() { return static_cast<void*>(cudaStreamLegacy); }

int stream_create_nonblocking(void** stream) {
  cudaStream_t s = nullptr;
  const cudaError_t e = cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
  *stream = s;
  return static_cast<int>(e);
}
int stream_destroy(void* stream) { return static_cast<int>(cudaStreamDestroy(static_cast<cudaStream_t>(stream))); }

int event_create(void** event) {
  cudaEvent_t e = nullptr;
  const cudaError_t r = cudaEventCreateWithFlags(&e, cudaEventDisableTiming);
  *event = e;
  return static_cast<int>(r);
}
int event_destroy(void* event) { return static_cast<int>(cudaEventDestroy(static_cast<cudaEvent_t>(event))); }

int event_record(void* event, void* stream) {
  return static_cast<int>(cudaEventRecord(static_cast<cudaEvent_t>(event), static_cast<cudaStream_t>(stream)));
}
int stream_wait_event(void* stream, void* event) {
  return static_cast<int>(cudaStreamWaitEvent(static_cast<cudaStream_t>(stream), static_cast<cudaEvent_t>(event), 0));
}
int event_query(void* event) {
  const cudaError_t e = cudaEventQuery(static_cast<cudaEvent_t>(event));
  if (e == cudaErrorNotReady) cudaGetLastError();  // "not ready" is a status, not an error to keep
  return static_cast<int>(e);
}

}  // namespace cuda
}  // namespace telechat
