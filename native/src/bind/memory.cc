// Host buffers: alloc/free with accounting, copies to and from JS typed arrays, threads.
#include <omp.h>

#include <cstring>
#include <new>

#include "bind/args.h"
#include "bind/bindings.h"
#include "memory.h"
#ifdef TELECHAT_WITH_CUDA
#include "cuda/api.h"
#endif

namespace telechat {
namespace {

const char* kCategoryNames[MEM_NUM_CATEGORIES] = {"params", "grads", "master", "optim", "activations", "buffers", "scratch"};

// alloc(bytes, category) -> address
Napi::Value Alloc(const Napi::CallbackInfo& info) {
  int64_t bytes = int_arg(info, 0);
  int64_t category = int_arg(info, 1);
  if (bytes < 0 || category < 0 || category >= MEM_NUM_CATEGORIES) {
    Napi::RangeError::New(info.Env(), "alloc: bad size or category").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  try {
    return ptr_value(info.Env(), host_alloc(static_cast<size_t>(bytes), static_cast<MemCategory>(category)));
  } catch (const std::bad_alloc&) {
    Napi::Error::New(info.Env(), "out of host memory allocating " + std::to_string(bytes) + " bytes")
        .ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
}

Napi::Value Free(const Napi::CallbackInfo& info) {
  if (!host_free(ptr_arg(info, 0))) {
    Napi::Error::New(info.Env(), "free: not a live buffer (double free?)").ThrowAsJavaScriptException();
  }
  return info.Env().Undefined();
}

// copyIn(address, typedArray): bytes of the typed array into native memory.
Napi::Value CopyIn(const Napi::CallbackInfo& info) {
  void* dst = ptr_arg(info, 0);
  Napi::TypedArray src = info[1].As<Napi::TypedArray>();
  Napi::ArrayBuffer ab = src.ArrayBuffer();
  std::memcpy(dst, static_cast<char*>(ab.Data()) + src.ByteOffset(), src.ByteLength());
  return info.Env().Undefined();
}

// copyOut(address, typedArray): native memory into the typed array (its byte length).
Napi::Value CopyOut(const Napi::CallbackInfo& info) {
  const void* src = ptr_arg(info, 0);
  Napi::TypedArray dst = info[1].As<Napi::TypedArray>();
  Napi::ArrayBuffer ab = dst.ArrayBuffer();
  std::memcpy(static_cast<char*>(ab.Data()) + dst.ByteOffset(), src, dst.ByteLength());
  return info.Env().Undefined();
}

// copy(dst, src, bytes): native to native.
Napi::Value Copy(const Napi::CallbackInfo& info) {
  std::memmove(ptr_arg(info, 0), ptr_arg(info, 1), static_cast<size_t>(int_arg(info, 2)));
  return info.Env().Undefined();
}

Napi::Value MemStatsJs(const Napi::CallbackInfo& info) {
  MemStats s = host_mem_stats();
  Napi::Object current = Napi::Object::New(info.Env());
  Napi::Object peak = Napi::Object::New(info.Env());
  for (int c = 0; c < MEM_NUM_CATEGORIES; c++) {
    current.Set(kCategoryNames[c], Napi::Number::New(info.Env(), static_cast<double>(s.current[c])));
    peak.Set(kCategoryNames[c], Napi::Number::New(info.Env(), static_cast<double>(s.peak[c])));
  }
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("current", current);
  out.Set("peak", peak);
  out.Set("totalCurrent", Napi::Number::New(info.Env(), static_cast<double>(s.total_current)));
  out.Set("totalPeak", Napi::Number::New(info.Env(), static_cast<double>(s.total_peak)));
  return out;
}

Napi::Value MemResetPeaks(const Napi::CallbackInfo& info) {
  host_mem_reset_peaks();
  return info.Env().Undefined();
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  omp_set_num_threads(static_cast<int>(int_arg(info, 0)));
  return info.Env().Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), omp_get_max_threads());
}

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
#ifdef TELECHAT_WITH_CUDA
  out.Set("cuda", Napi::Boolean::New(info.Env(), true));
  out.Set("cudaDevices", Napi::Number::New(info.Env(), cuda::device_count()));
#else
  out.Set("cuda", Napi::Boolean::New(info.Env(), false));
  out.Set("cudaDevices", Napi::Number::New(info.Env(), 0));
#endif
  return out;
}

}  // namespace

void register_memory(Napi::Env env, Napi::Object exports) {
  exports.Set("alloc", Napi::Function::New(env, Alloc));
  exports.Set("free", Napi::Function::New(env, Free));
  exports.Set("copyIn", Napi::Function::New(env, CopyIn));
  exports.Set("copyOut", Napi::Function::New(env, CopyOut));
  exports.Set("copy", Napi::Function::New(env, Copy));
  exports.Set("memStats", Napi::Function::New(env, MemStatsJs));
  exports.Set("memResetPeaks", Napi::Function::New(env, MemResetPeaks));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads));
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfo));
}

}  // namespace telechat
