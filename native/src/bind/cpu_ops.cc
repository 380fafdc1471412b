// Bindings for the CPU kernels declared in cpu/ops.h (all but attention).
#include "bind/args.h"
#include "bind/bindings.h"
#include "cpu/ops.h"

namespace telechat {

void register_cpu_ops(Napi::Env env, Napi::Object exports) {
  (void)env;
  (void)exports;
}

}  // namespace telechat
