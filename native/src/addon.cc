// The addon's N-API surface: only registration lives here; each family binds itself in
// src/bind/, and the kernels behind those bindings live in src/cpu/ and src/cuda/.
#include <napi.h>

#include "bind/bindings.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  telechat::register_memory(env, exports);
  telechat::register_cpu_ops(env, exports);
  telechat::register_cpu_attention(env, exports);
  telechat::register_cpu_optim(env, exports);
  telechat::register_tokenizer(env, exports);
  telechat::register_comm(env, exports);
  telechat::register_cuda(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(telechat_native, Init)
