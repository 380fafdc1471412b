// The CUDA stream and event calls the NCCL communicator needs, as a table of plain functions.
// The addon fills it from native/src/cuda/api.h (bind/nccl.cc, CUDA builds only); the CPU test
// harness (test/dist/nccl_fake/async_check.cc) fills it with host stand-ins, so the ordering,
// polling, timeout and abort logic of nccl_async.cc is exercised without a GPU.
#pragma once
#include <cstddef>

namespace telechat {
namespace comm {

struct StreamOps {
  void* legacy_stream;  // the stream every kernel of the CUDA backend runs on
  int not_ready;        // event_query's "still pending" code (cudaErrorNotReady)
  // Each returns 0 or an error code that error_string explains.
  int (*stream_create)(void** stream);  // a non-blocking stream (no implicit sync with legacy)
  int (*stream_destroy)(void* stream);
  int (*event_create)(void** event);
  int (*event_destroy)(void* event);
  int (*event_record)(void* event, void* stream);
  int (*stream_wait_event)(void* stream, void* event);
  int (*event_query)(void* event);  // 0 complete, not_ready pending, else an error
  const char* (*error_string)(int code);
  // Device scratch (the barrier's one int32); nullptr on failure.
  void* (*alloc)(size_t bytes);
  void (*free)(void* ptr);
};

}  // namespace comm
}  // namespace telechat
