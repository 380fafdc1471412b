// Bindings for the CPU kernels declared in cpu/ops.h (all but attention), and for what they run
// on (tile paths, OpenBLAS's kernels). Argument order mirrors ops.h; shapes and dtypes are
// checked by the TypeScript wrappers (src/native/kernels.ts).
#include <cblas.h>

#include <string>

#include "bind/args.h"
#include "bind/bindings.h"
#include "cpu/gemm_bf16.h"
#include "cpu/ops.h"
#include "cpu/attention_tiles.h"
#include "cpu/lora_tiles.h"

namespace telechat {
namespace {

using CI = Napi::CallbackInfo;

template <typename T> T* typed(const CI& info, size_t i) { return static_cast<T*>(ptr_arg(info, i)); }

Napi::Value FillZero(const CI& info) {
  cpu::fill_zero(ptr_arg(info, 0), int_arg(info, 1), dtype_arg(info, 2));
  return info.Env().Undefined();
}

Napi::Value Cast(const CI& info) {
  cpu::cast(ptr_arg(info, 0), dtype_arg(info, 1), ptr_arg(info, 2), dtype_arg(info, 3), int_arg(info, 4));
  return info.Env().Undefined();
}

Napi::Value Add(const CI& info) {
  cpu::add(ptr_arg(info, 0), ptr_arg(info, 1), ptr_arg(info, 2), int_arg(info, 3), dtype_arg(info, 4));
  return info.Env().Undefined();
}

Napi::Value ScaleInplace(const CI& info) {
  cpu::scale_inplace(ptr_arg(info, 0), static_cast<float>(num_arg(info, 1)), int_arg(info, 2), dtype_arg(info, 3));
  return info.Env().Undefined();
}

Napi::Value SumSquares(const CI& info) {
  return Napi::Number::New(info.Env(), cpu::sum_squares(ptr_arg(info, 0), int_arg(info, 1), dtype_arg(info, 2)));
}

Napi::Value HasNonfinite(const CI& info) {
  return Napi::Boolean::New(info.Env(), cpu::has_nonfinite(ptr_arg(info, 0), int_arg(info, 1), dtype_arg(info, 2)));
}

Napi::Value EmbeddingForward(const CI& info) {
  int64_t bad = cpu::embedding_forward(ptr_arg(info, 0), typed<const int32_t>(info, 1), ptr_arg(info, 2),
                                       int_arg(info, 3), int_arg(info, 4), int_arg(info, 5), dtype_arg(info, 6));
  return Napi::Number::New(info.Env(), static_cast<double>(bad));
}

Napi::Value EmbeddingBackward(const CI& info) {
  cpu::embedding_backward(ptr_arg(info, 0), typed<const int32_t>(info, 1), ptr_arg(info, 2), int_arg(info, 3),
                          int_arg(info, 4), dtype_arg(info, 5), dtype_arg(info, 6));
  return info.Env().Undefined();
}

Napi::Value RmsnormForward(const CI& info) {
  cpu::rmsnorm_forward(ptr_arg(info, 0), typed<float>(info, 1), ptr_arg(info, 2), ptr_arg(info, 3), int_arg(info, 4),
                       int_arg(info, 5), static_cast<float>(num_arg(info, 6)), dtype_arg(info, 7));
  return info.Env().Undefined();
}

Napi::Value RmsnormBackward(const CI& info) {
  cpu::rmsnorm_backward(ptr_arg(info, 0), ptr_arg(info, 1), ptr_arg(info, 2), ptr_arg(info, 3), ptr_arg(info, 4),
                        typed<const float>(info, 5), int_arg(info, 6), int_arg(info, 7), dtype_arg(info, 8),
                        dtype_arg(info, 9));
  return info.Env().Undefined();
}

// Linear products may throw (a bad TELECHAT_CPU_BF16_GEMM, a oneDNN error) before writing output.
Napi::Value LinearForward(const CI& info) {
  return guarded(info, [&]() -> Napi::Value {
    cpu::linear_forward(ptr_arg(info, 0), ptr_arg(info, 1), ptr_arg(info, 2), ptr_arg(info, 3), int_arg(info, 4),
                        int_arg(info, 5), int_arg(info, 6), dtype_arg(info, 7), bool_arg(info, 8));
    return info.Env().Undefined();
  });
}

Napi::Value LoraForward(const CI& info) {
  return guarded(info, [&]() -> Napi::Value {
    cpu::lora_forward(ptr_arg(info, 0), ptr_arg(info, 1), ptr_arg(info, 2), ptr_arg(info, 3), ptr_arg(info, 4),
                      int_arg(info, 5), int_arg(info, 6), int_arg(info, 7), int_arg(info, 8), int_arg(info, 9),
                      int_arg(info, 10), static_cast<float>(num_arg(info, 11)), dtype_arg(info, 12), bool_arg(info, 13));
    return info.Env().Undefined();
  });
}

Napi::Value LoraBackward(const CI& info) {
  return guarded(info, [&]() -> Napi::Value {
    cpu::lora_backward(ptr_arg(info, 0), ptr_arg(info, 1), ptr_arg(info, 2), ptr_arg(info, 3), ptr_arg(info, 4),
                       ptr_arg(info, 5), ptr_arg(info, 6), ptr_arg(info, 7), int_arg(info, 8), int_arg(info, 9),
                       int_arg(info, 10), int_arg(info, 11), int_arg(info, 12), int_arg(info, 13),
                       static_cast<float>(num_arg(info, 14)), dtype_arg(info, 15), dtype_arg(info, 16),
                       bool_arg(info, 17));
    return info.Env().Undefined();
  });
}

Napi::Value LinearBackward(const CI& info) {
  return guarded(info, [&]() -> Napi::Value {
    cpu::linear_backward(ptr_arg(info, 0), ptr_arg(info, 1), ptr_arg(info, 2), ptr_arg(info, 3), ptr_arg(info, 4),
                         ptr_arg(info, 5), int_arg(info, 6), int_arg(info, 7), int_arg(info, 8), dtype_arg(info, 9),
                         dtype_arg(info, 10), bool_arg(info, 11));
    return info.Env().Undefined();
  });
}

// What bf16 linear products run on now ("onednn ..." or "fallback: why"); see cpu/gemm_bf16.h.
Napi::Value CpuBf16GemmPath(const CI& info) {
  return guarded(info, [&]() -> Napi::Value { return Napi::String::New(info.Env(), cpu::bf16_gemm_path()); });
}

// What attention tiles run on now, in words; see cpu/attention_tiles.h.
Napi::Value CpuAttentionTilePath(const CI& info) {
  return guarded(info, [&]() -> Napi::Value { return Napi::String::New(info.Env(), cpu::tile_path_text()); });
}

// The OpenBLAS kernels fp32 products run on ("Cooperlake", "Haswell", ...), chosen when the library
// loaded (OpenBLAS's own CPU detection, or the OPENBLAS_CORETYPE environment variable), and its
// build configuration.
Napi::Value CpuBlasCore(const CI& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("core", std::string(openblas_get_corename()));
    out.Set("config", std::string(openblas_get_config()));
    return out;
  });
}

// What LoRA adapter products run on now, in words; see cpu/lora_tiles.h.
Napi::Value CpuLoraTilePath(const CI& info) {
  return guarded(info, [&]() -> Napi::Value { return Napi::String::New(info.Env(), cpu::lora_tiles_text()); });
}

Napi::Value RopeForward(const CI& info) {
  cpu::rope_forward(ptr_arg(info, 0), typed<const int32_t>(info, 1), typed<const float>(info, 2),
                    typed<const float>(info, 3), int_arg(info, 4), int_arg(info, 5), int_arg(info, 6), int_arg(info, 7),
                    dtype_arg(info, 8));
  return info.Env().Undefined();
}

Napi::Value RopeBackward(const CI& info) {
  cpu::rope_backward(ptr_arg(info, 0), typed<const int32_t>(info, 1), typed<const float>(info, 2),
                     typed<const float>(info, 3), int_arg(info, 4), int_arg(info, 5), int_arg(info, 6),
                     int_arg(info, 7), dtype_arg(info, 8));
  return info.Env().Undefined();
}

Napi::Value SwigluForward(const CI& info) {
  cpu::swiglu_forward(ptr_arg(info, 0), ptr_arg(info, 1), int_arg(info, 2), int_arg(info, 3), dtype_arg(info, 4));
  return info.Env().Undefined();
}

Napi::Value SwigluBackward(const CI& info) {
  cpu::swiglu_backward(ptr_arg(info, 0), ptr_arg(info, 1), ptr_arg(info, 2), int_arg(info, 3), int_arg(info, 4),
                       dtype_arg(info, 5));
  return info.Env().Undefined();
}

// The 64-bit stream key crosses as two uint32 halves (JS numbers are exact only to 2^53).
uint64_t key_arg(const CI& info, size_t hi) {
  return (static_cast<uint64_t>(int_arg(info, hi)) << 32) | static_cast<uint64_t>(int_arg(info, hi + 1) & 0xffffffff);
}

// dropoutAddForward(out, resid, h, tokens, keyHi, keyLo, threshold, scale, T, C, dt)
Napi::Value DropoutAddForward(const CI& info) {
  cpu::dropout_add_forward(ptr_arg(info, 0), ptr_arg(info, 1), ptr_arg(info, 2), typed<const int32_t>(info, 3),
                           key_arg(info, 4), static_cast<uint32_t>(int_arg(info, 6)),
                           static_cast<float>(num_arg(info, 7)), int_arg(info, 8), int_arg(info, 9), dtype_arg(info, 10));
  return info.Env().Undefined();
}

// dropoutBackward(dh, dy, tokens, keyHi, keyLo, threshold, scale, T, C, dt)
Napi::Value DropoutBackward(const CI& info) {
  cpu::dropout_backward(ptr_arg(info, 0), ptr_arg(info, 1), typed<const int32_t>(info, 2), key_arg(info, 3),
                        static_cast<uint32_t>(int_arg(info, 5)), static_cast<float>(num_arg(info, 6)), int_arg(info, 7),
                        int_arg(info, 8), dtype_arg(info, 9));
  return info.Env().Undefined();
}

// crossEntropy(logits, targets, T, V, logitScale, gradScale, writeGrad, dt) -> [lossSum, count, badRow]
Napi::Value CrossEntropy(const CI& info) {
  double loss_sum = 0.0;
  int64_t count = 0;
  int64_t bad = cpu::cross_entropy(ptr_arg(info, 0), &loss_sum, &count, typed<const int32_t>(info, 1),
                                   int_arg(info, 2), int_arg(info, 3), static_cast<float>(num_arg(info, 4)),
                                   static_cast<float>(num_arg(info, 5)), bool_arg(info, 6), dtype_arg(info, 7));
  Napi::Array out = Napi::Array::New(info.Env(), 3);
  out.Set(0u, Napi::Number::New(info.Env(), loss_sum));
  out.Set(1u, Napi::Number::New(info.Env(), static_cast<double>(count)));
  out.Set(2u, Napi::Number::New(info.Env(), static_cast<double>(bad)));
  return out;
}

}  // namespace

void register_cpu_ops(Napi::Env env, Napi::Object exports) {
  exports.Set("fillZero", Napi::Function::New(env, FillZero));
  exports.Set("cast", Napi::Function::New(env, Cast));
  exports.Set("add", Napi::Function::New(env, Add));
  exports.Set("scaleInplace", Napi::Function::New(env, ScaleInplace));
  exports.Set("sumSquares", Napi::Function::New(env, SumSquares));
  exports.Set("hasNonfinite", Napi::Function::New(env, HasNonfinite));
  exports.Set("embeddingForward", Napi::Function::New(env, EmbeddingForward));
  exports.Set("embeddingBackward", Napi::Function::New(env, EmbeddingBackward));
  exports.Set("rmsnormForward", Napi::Function::New(env, RmsnormForward));
  exports.Set("rmsnormBackward", Napi::Function::New(env, RmsnormBackward));
  exports.Set("linearForward", Napi::Function::New(env, LinearForward));
  exports.Set("linearBackward", Napi::Function::New(env, LinearBackward));
  exports.Set("loraForward", Napi::Function::New(env, LoraForward));
  exports.Set("loraBackward", Napi::Function::New(env, LoraBackward));
  exports.Set("cpuBf16GemmPath", Napi::Function::New(env, CpuBf16GemmPath));
  exports.Set("cpuAttentionTilePath", Napi::Function::New(env, CpuAttentionTilePath));
  exports.Set("cpuLoraTilePath", Napi::Function::New(env, CpuLoraTilePath));
  exports.Set("cpuBlasCore", Napi::Function::New(env, CpuBlasCore));
  exports.Set("ropeForward", Napi::Function::New(env, RopeForward));
  exports.Set("ropeBackward", Napi::Function::New(env, RopeBackward));
  exports.Set("swigluForward", Napi::Function::New(env, SwigluForward));
  exports.Set("swigluBackward", Napi::Function::New(env, SwigluBackward));
  exports.Set("dropoutAddForward", Napi::Function::New(env, DropoutAddForward));
  exports.Set("dropoutBackward", Napi::Function::New(env, DropoutBackward));
  exports.Set("crossEntropy", Napi::Function::New(env, CrossEntropy));
}

}  // namespace telechat
