// Bindings for the CPU flash-style attention (cpu/attention.cc). Argument orders mirror
// cpu/ops.h; src/native/attention.ts checks shapes, dtypes and cu_seqlens before calling.
#include "bind/args.h"
#include "bind/bindings.h"
#include "cpu/ops.h"

#include <new>
#include <string>

namespace telechat {
namespace {

// Runs a kernel, turning a failed Scratch allocation (or another C++ error) into a JS error instead of an abort.
template <typename F>
Napi::Value guarded(const Napi::CallbackInfo& info, const char* name, F kernel) {
  try {
    kernel();
  } catch (const std::bad_alloc&) {
    Napi::Error::New(info.Env(), std::string(name) + ": out of host memory for scratch tiles")
        .ThrowAsJavaScriptException();
  } catch (const std::exception& e) {  // a bad TELECHAT_CPU_ATTN_BWD
    Napi::Error::New(info.Env(), std::string(name) + ": " + e.what()).ThrowAsJavaScriptException();
  }
  return info.Env().Undefined();
}

// attentionForward(out, lse, qkv, cuSeqlens, numDocs, T, nh, nkv, D, scale, dt)
Napi::Value AttentionForward(const Napi::CallbackInfo& info) {
  return guarded(info, "attentionForward", [&] {
    cpu::attention_forward(ptr_arg(info, 0), static_cast<float*>(ptr_arg(info, 1)), ptr_arg(info, 2),
                           static_cast<const int32_t*>(ptr_arg(info, 3)), int_arg(info, 4), int_arg(info, 5),
                           int_arg(info, 6), int_arg(info, 7), int_arg(info, 8), static_cast<float>(num_arg(info, 9)),
                           dtype_arg(info, 10));
  });
}

// attentionBackward(dqkv, dout, out, lse, qkv, cuSeqlens, numDocs, T, nh, nkv, D, scale, dt)
Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  return guarded(info, "attentionBackward", [&] {
    cpu::attention_backward(ptr_arg(info, 0), ptr_arg(info, 1), ptr_arg(info, 2),
                            static_cast<const float*>(ptr_arg(info, 3)), ptr_arg(info, 4),
                            static_cast<const int32_t*>(ptr_arg(info, 5)), int_arg(info, 6), int_arg(info, 7),
                            int_arg(info, 8), int_arg(info, 9), int_arg(info, 10),
                            static_cast<float>(num_arg(info, 11)), dtype_arg(info, 12));
  });
}

}  // namespace

void register_cpu_attention(Napi::Env env, Napi::Object exports) {
  exports.Set("attentionForward", Napi::Function::New(env, AttentionForward, "attentionForward"));
  exports.Set("attentionBackward", Napi::Function::New(env, AttentionBackward, "attentionBackward"));
}

}  // namespace telechat
