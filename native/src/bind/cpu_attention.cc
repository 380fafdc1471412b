// Bindings for the CPU flash-style attention (cpu/attention.cc).
#include "bind/args.h"
#include "bind/bindings.h"
#include "cpu/ops.h"

namespace telechat {

void register_cpu_attention(Napi::Env env, Napi::Object exports) {
  (void)env;
  (void)exports;
}

}  // namespace telechat
