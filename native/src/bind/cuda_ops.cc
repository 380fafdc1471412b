// Bindings for the CUDA backend (native/src/cuda/api.h). The cuBLAS loader probe is always
// registered (pure host code, testable without a GPU); every cuda* function only when the addon
// was built with nvcc (TELECHAT_WITH_CUDA). Argument order mirrors api.h; addresses are device
// pointers except typed arrays. Shape and dtype checks live in src/native/cuda_backend.ts.
#include <stdexcept>
#include <string>

#include "bind/args.h"
#include "bind/bindings.h"
#include "cuda/cublas_loader.h"
#ifdef TELECHAT_WITH_CUDA
#include "cuda/api.h"
#endif

namespace telechat {
namespace {

using CI = Napi::CallbackInfo;

Napi::Value CublasSearchPaths(const CI& info) {
  const auto paths = cuda::cublas_search_paths();
  Napi::Array out = Napi::Array::New(info.Env(), paths.size());
  for (size_t i = 0; i < paths.size(); i++) out.Set(static_cast<uint32_t>(i), paths[i]);
  return out;
}

// cublasProbe() -> { path, version }: loads cuBLAS (no GPU needed) or throws listing where it looked.
Napi::Value CublasProbe(const CI& info) {
  return guarded(info, [&]() -> Napi::Value {
    const cuda::CublasLib& lib = cuda::cublas_lib();
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("path", lib.path);
    out.Set("version", lib.version);
    return out;
  });
}

#ifdef TELECHAT_WITH_CUDA
void check(int code, const char* what) {
  if (code != 0) throw std::runtime_error(std::string(what) + ": CUDA error " + std::to_string(code) + " (" + cuda::error_string(code) + ")");
}
template <typename T> T* typed(const CI& info, size_t i) { return static_cast<T*>(ptr_arg(info, i)); }
int dt_arg(const CI& info, size_t i) { return static_cast<int>(int_arg(info, i)); }
float f_arg(const CI& info, size_t i) { return static_cast<float>(num_arg(info, i)); }

// A binding whose body returns a CUDA error code; name is used in the error message.
#define CUDA_BINDING(Name, what, body)                      \
  Napi::Value Name(const CI& info) {                        \
    return guarded(info, [&]() -> Napi::Value {             \
      check((body), what);                                  \
      return info.Env().Undefined();                        \
    });                                                     \
  }

CUDA_BINDING(SetDevice, "cudaSetDevice", cuda::set_device(static_cast<int>(int_arg(info, 0))))
CUDA_BINDING(Synchronize, "cudaDeviceSynchronize", cuda::synchronize())
CUDA_BINDING(AddF32, "cudaAddF32", cuda::add_f32(typed<float>(info, 0), typed<const float>(info, 1), typed<const float>(info, 2), int_arg(info, 3)))
CUDA_BINDING(Copy, "cudaCopy", cuda::memcpy_d2d(ptr_arg(info, 0), ptr_arg(info, 1), int_arg(info, 2)))
CUDA_BINDING(EmptyCache, "cudaEmptyCache", cuda::device_empty_cache())
CUDA_BINDING(FillZero, "cudaFillZero", cuda::fill_zero(ptr_arg(info, 0), int_arg(info, 1), dt_arg(info, 2)))
CUDA_BINDING(Cast, "cudaCast", cuda::cast(ptr_arg(info, 0), dt_arg(info, 1), ptr_arg(info, 2), dt_arg(info, 3), int_arg(info, 4)))
CUDA_BINDING(Add, "cudaAdd", cuda::add(ptr_arg(info, 0), ptr_arg(info, 1), ptr_arg(info, 2), int_arg(info, 3), dt_arg(info, 4)))
CUDA_BINDING(ScaleInplace, "cudaScaleInplace", cuda::scale_inplace(ptr_arg(info, 0), f_arg(info, 1), int_arg(info, 2), dt_arg(info, 3)))
CUDA_BINDING(EmbeddingBackward, "cudaEmbeddingBackward",
             cuda::embedding_backward(ptr_arg(info, 0), typed<const int32_t>(info, 1), ptr_arg(info, 2), int_arg(info, 3),
                                      int_arg(info, 4), dt_arg(info, 5), dt_arg(info, 6)))
CUDA_BINDING(RmsnormForward, "cudaRmsnormForward",
             cuda::rmsnorm_forward(ptr_arg(info, 0), typed<float>(info, 1), ptr_arg(info, 2), ptr_arg(info, 3), int_arg(info, 4),
                                   int_arg(info, 5), f_arg(info, 6), dt_arg(info, 7)))
CUDA_BINDING(RmsnormBackward, "cudaRmsnormBackward",
             cuda::rmsnorm_backward(ptr_arg(info, 0), ptr_arg(info, 1), ptr_arg(info, 2), ptr_arg(info, 3), ptr_arg(info, 4),
                                    typed<const float>(info, 5), int_arg(info, 6), int_arg(info, 7), dt_arg(info, 8), dt_arg(info, 9)))
CUDA_BINDING(LinearForward, "cudaLinearForward",
             cuda::linear_forward(ptr_arg(info, 0), ptr_arg(info, 1), ptr_arg(info, 2), ptr_arg(info, 3), int_arg(info, 4),
                                  int_arg(info, 5), int_arg(info, 6), dt_arg(info, 7), bool_arg(info, 8)))
CUDA_BINDING(LinearBackward, "cudaLinearBackward",
             cuda::linear_backward(ptr_arg(info, 0), ptr_arg(info, 1), ptr_arg(info, 2), ptr_arg(info, 3), ptr_arg(info, 4),
                                   ptr_arg(info, 5), int_arg(info, 6), int_arg(info, 7), int_arg(info, 8), dt_arg(info, 9),
                                   dt_arg(info, 10), bool_arg(info, 11)))
CUDA_BINDING(LoraForward, "cudaLoraForward",
             cuda::lora_forward(ptr_arg(info, 0), ptr_arg(info, 1), ptr_arg(info, 2), ptr_arg(info, 3), ptr_arg(info, 4),
                                int_arg(info, 5), int_arg(info, 6), int_arg(info, 7), int_arg(info, 8), int_arg(info, 9),
                                int_arg(info, 10), f_arg(info, 11), dt_arg(info, 12), bool_arg(info, 13)))
CUDA_BINDING(LoraBackward, "cudaLoraBackward",
             cuda::lora_backward(ptr_arg(info, 0), ptr_arg(info, 1), ptr_arg(info, 2), ptr_arg(info, 3), ptr_arg(info, 4),
                                 ptr_arg(info, 5), ptr_arg(info, 6), ptr_arg(info, 7), int_arg(info, 8), int_arg(info, 9),
                                 int_arg(info, 10), int_arg(info, 11), int_arg(info, 12), int_arg(info, 13), f_arg(info, 14),
                                 dt_arg(info, 15), dt_arg(info, 16), bool_arg(info, 17)))
CUDA_BINDING(RopeForward, "cudaRopeForward",
             cuda::rope_forward(ptr_arg(info, 0), typed<const int32_t>(info, 1), typed<const float>(info, 2),
                                typed<const float>(info, 3), int_arg(info, 4), int_arg(info, 5), int_arg(info, 6),
                                int_arg(info, 7), dt_arg(info, 8)))
CUDA_BINDING(RopeBackward, "cudaRopeBackward",
             cuda::rope_backward(ptr_arg(info, 0), typed<const int32_t>(info, 1), typed<const float>(info, 2),
                                 typed<const float>(info, 3), int_arg(info, 4), int_arg(info, 5), int_arg(info, 6),
                                 int_arg(info, 7), dt_arg(info, 8)))
CUDA_BINDING(SwigluForward, "cudaSwigluForward",
             cuda::swiglu_forward(ptr_arg(info, 0), ptr_arg(info, 1), int_arg(info, 2), int_arg(info, 3), dt_arg(info, 4)))
CUDA_BINDING(SwigluBackward, "cudaSwigluBackward",
             cuda::swiglu_backward(ptr_arg(info, 0), ptr_arg(info, 1), ptr_arg(info, 2), int_arg(info, 3), int_arg(info, 4),
                                   dt_arg(info, 5)))
// The 64-bit dropout stream key crosses as two uint32 halves (hi, lo).
uint64_t key_arg(const CI& info, size_t hi) {
  return (static_cast<uint64_t>(int_arg(info, hi)) << 32) | static_cast<uint64_t>(int_arg(info, hi + 1) & 0xffffffff);
}
CUDA_BINDING(DropoutAddForward, "cudaDropoutAddForward",
             cuda::dropout_add_forward(ptr_arg(info, 0), ptr_arg(info, 1), ptr_arg(info, 2), typed<const int32_t>(info, 3),
                                       key_arg(info, 4), static_cast<uint32_t>(int_arg(info, 6)), f_arg(info, 7),
                                       int_arg(info, 8), int_arg(info, 9), dt_arg(info, 10)))
CUDA_BINDING(DropoutBackward, "cudaDropoutBackward",
             cuda::dropout_backward(ptr_arg(info, 0), ptr_arg(info, 1), typed<const int32_t>(info, 2), key_arg(info, 3),
                                    static_cast<uint32_t>(int_arg(info, 5)), f_arg(info, 6), int_arg(info, 7),
                                    int_arg(info, 8), dt_arg(info, 9)))
CUDA_BINDING(AttentionForward, "cudaAttentionForward",
             cuda::attention_forward(ptr_arg(info, 0), typed<float>(info, 1), ptr_arg(info, 2), typed<const int32_t>(info, 3),
                                     int_arg(info, 4), int_arg(info, 5), int_arg(info, 6), int_arg(info, 7), int_arg(info, 8),
                                     int_arg(info, 9), f_arg(info, 10), bool_arg(info, 11), dt_arg(info, 12)))
CUDA_BINDING(AttentionBackward, "cudaAttentionBackward",
             cuda::attention_backward(ptr_arg(info, 0), ptr_arg(info, 1), ptr_arg(info, 2), typed<const float>(info, 3),
                                      ptr_arg(info, 4), typed<const int32_t>(info, 5), int_arg(info, 6), int_arg(info, 7),
                                      int_arg(info, 8), int_arg(info, 9), int_arg(info, 10), int_arg(info, 11),
                                      f_arg(info, 12), bool_arg(info, 13), dt_arg(info, 14)))

Napi::Value Alloc(const CI& info) {
  const char* err = nullptr;
  void* p = cuda::device_alloc(int_arg(info, 0), static_cast<int>(int_arg(info, 1)), &err);
  if (!p) {
    Napi::Error::New(info.Env(), std::string("cudaAlloc of ") + std::to_string(int_arg(info, 0)) + " bytes: " + err)
        .ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  return ptr_value(info.Env(), p);
}

Napi::Value Free(const CI& info) {
  if (!cuda::device_free(ptr_arg(info, 0)))
    Napi::Error::New(info.Env(), "cudaFree: not a live device buffer (double free?)").ThrowAsJavaScriptException();
  return info.Env().Undefined();
}

// cudaCopyIn(devicePtr, typedArray) / cudaCopyOut(devicePtr, typedArray): synchronous copies.
Napi::Value CopyIn(const CI& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::TypedArray src = info[1].As<Napi::TypedArray>();
    const char* host = static_cast<const char*>(src.ArrayBuffer().Data()) + src.ByteOffset();
    check(cuda::memcpy_h2d(ptr_arg(info, 0), host, static_cast<int64_t>(src.ByteLength())), "cudaCopyIn");
    return info.Env().Undefined();
  });
}
Napi::Value CopyOut(const CI& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::TypedArray dst = info[1].As<Napi::TypedArray>();
    char* host = static_cast<char*>(dst.ArrayBuffer().Data()) + dst.ByteOffset();
    check(cuda::memcpy_d2h(host, ptr_arg(info, 0), static_cast<int64_t>(dst.ByteLength())), "cudaCopyOut");
    return info.Env().Undefined();
  });
}

const char* kCategoryNames[7] = {"params", "grads", "master", "optim", "activations", "buffers", "scratch"};

Napi::Value MemStats(const CI& info) {
  const cuda::DeviceMemStats s = cuda::device_mem_stats();
  Napi::Env env = info.Env();
  Napi::Object current = Napi::Object::New(env), peak = Napi::Object::New(env), out = Napi::Object::New(env);
  for (int c = 0; c < 7; c++) {
    current.Set(kCategoryNames[c], static_cast<double>(s.current[c]));
    peak.Set(kCategoryNames[c], static_cast<double>(s.peak[c]));
  }
  out.Set("current", current);
  out.Set("peak", peak);
  out.Set("totalCurrent", static_cast<double>(s.total_current));
  out.Set("totalPeak", static_cast<double>(s.total_peak));
  out.Set("reserved", static_cast<double>(s.reserved));
  out.Set("cached", static_cast<double>(s.cached));
  return out;
}

Napi::Value MemResetPeaks(const CI& info) {
  cuda::device_mem_reset_peaks();
  return info.Env().Undefined();
}

Napi::Value SumSquares(const CI& info) {
  return guarded(info, [&]() -> Napi::Value {
    double r = 0.0;
    check(cuda::sum_squares(&r, ptr_arg(info, 0), int_arg(info, 1), dt_arg(info, 2)), "cudaSumSquares");
    return Napi::Number::New(info.Env(), r);
  });
}

// Returns -1 or the first token whose id is outside [0, V) (nothing written then).
Napi::Value EmbeddingForward(const CI& info) {
  return guarded(info, [&]() -> Napi::Value {
    int64_t bad = -1;
    check(cuda::embedding_forward(&bad, ptr_arg(info, 0), typed<const int32_t>(info, 1), ptr_arg(info, 2), int_arg(info, 3),
                                  int_arg(info, 4), int_arg(info, 5), dt_arg(info, 6)),
          "cudaEmbeddingForward");
    return Napi::Number::New(info.Env(), static_cast<double>(bad));
  });
}

// Returns [lossSum, count, badRow] like the CPU binding.
Napi::Value CrossEntropy(const CI& info) {
  return guarded(info, [&]() -> Napi::Value {
    double loss = 0.0;
    int64_t count = 0, bad = -1;
    check(cuda::cross_entropy(&loss, &count, &bad, ptr_arg(info, 0), typed<const int32_t>(info, 1), int_arg(info, 2),
                              int_arg(info, 3), f_arg(info, 4), f_arg(info, 5), bool_arg(info, 6), dt_arg(info, 7)),
          "cudaCrossEntropy");
    Napi::Array out = Napi::Array::New(info.Env(), 3);
    out.Set(0u, loss);
    out.Set(1u, static_cast<double>(count));
    out.Set(2u, static_cast<double>(bad));
    return out;
  });
}

// Argument order of the CPU adamwStep binding.
Napi::Value AdamwStep(const CI& info) {
  return guarded(info, [&]() -> Napi::Value {
    cuda::AdamArgs a;
    a.lr = num_arg(info, 8);
    a.beta1 = num_arg(info, 9);
    a.beta2 = num_arg(info, 10);
    a.eps = f_arg(info, 11);
    a.weight_decay = num_arg(info, 12);
    a.step = int_arg(info, 13);
    a.grad_scale = f_arg(info, 14);
    a.adam_w_mode = bool_arg(info, 15);
    check(cuda::adamw_step(typed<float>(info, 0), ptr_arg(info, 1), dt_arg(info, 2), ptr_arg(info, 3), dt_arg(info, 4),
                           typed<float>(info, 5), typed<float>(info, 6), int_arg(info, 7), a),
          "cudaAdamwStep");
    return info.Env().Undefined();
  });
}

Napi::Value AttentionSupported(const CI& info) {
  return Napi::Boolean::New(info.Env(), cuda::attention_supported(int_arg(info, 0), dt_arg(info, 1)));
}
#endif  // TELECHAT_WITH_CUDA

}  // namespace

void register_cuda(Napi::Env env, Napi::Object exports) {
  exports.Set("cublasSearchPaths", Napi::Function::New(env, CublasSearchPaths));
  exports.Set("cublasProbe", Napi::Function::New(env, CublasProbe));
#ifdef TELECHAT_WITH_CUDA
  const std::pair<const char*, Napi::Value (*)(const CI&)> fns[] = {
      {"cudaSetDevice", SetDevice}, {"cudaSynchronize", Synchronize}, {"cudaAddF32", AddF32},
      {"cudaAlloc", Alloc}, {"cudaFree", Free}, {"cudaCopyIn", CopyIn}, {"cudaCopyOut", CopyOut}, {"cudaCopy", Copy},
      {"cudaMemStats", MemStats}, {"cudaMemResetPeaks", MemResetPeaks}, {"cudaEmptyCache", EmptyCache},
      {"cudaFillZero", FillZero}, {"cudaCast", Cast}, {"cudaAdd", Add}, {"cudaScaleInplace", ScaleInplace},
      {"cudaSumSquares", SumSquares}, {"cudaEmbeddingForward", EmbeddingForward},
      {"cudaEmbeddingBackward", EmbeddingBackward}, {"cudaRmsnormForward", RmsnormForward},
      {"cudaRmsnormBackward", RmsnormBackward}, {"cudaLinearForward", LinearForward},
      {"cudaLinearBackward", LinearBackward}, {"cudaLoraForward", LoraForward}, {"cudaLoraBackward", LoraBackward}, {"cudaRopeForward", RopeForward}, {"cudaRopeBackward", RopeBackward},
      {"cudaSwigluForward", SwigluForward}, {"cudaSwigluBackward", SwigluBackward},
      {"cudaDropoutAddForward", DropoutAddForward}, {"cudaDropoutBackward", DropoutBackward},
      {"cudaCrossEntropy", CrossEntropy}, {"cudaAdamwStep", AdamwStep},
      {"cudaAttentionForward", AttentionForward}, {"cudaAttentionBackward", AttentionBackward},
      {"cudaAttentionSupported", AttentionSupported}};
  for (const auto& f : fns) exports.Set(f.first, Napi::Function::New(env, f.second, f.first));
#endif
}

}  // namespace telechat
