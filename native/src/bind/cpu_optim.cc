// Bindings for the CPU optimizer kernels (cpu/optim.h).
#include "bind/args.h"
#include "bind/bindings.h"
#include "cpu/optim.h"

namespace telechat {
namespace {

// adamwStep(master, paramCopy|null, paramDt, grad, gradDt, m, v, n,
//           lr, beta1, beta2, eps, weightDecay, step, gradScale, adamWMode)
Napi::Value AdamwStep(const Napi::CallbackInfo& info) {
  cpu::AdamParams a;
  a.lr = num_arg(info, 8);
  a.beta1 = num_arg(info, 9);
  a.beta2 = num_arg(info, 10);
  a.eps = static_cast<float>(num_arg(info, 11));
  a.weight_decay = num_arg(info, 12);
  a.step = int_arg(info, 13);
  a.grad_scale = static_cast<float>(num_arg(info, 14));
  a.adam_w_mode = bool_arg(info, 15);
  cpu::adamw_step(static_cast<float*>(ptr_arg(info, 0)), ptr_arg(info, 1), dtype_arg(info, 2), ptr_arg(info, 3),
                  dtype_arg(info, 4), static_cast<float*>(ptr_arg(info, 5)), static_cast<float*>(ptr_arg(info, 6)),
                  int_arg(info, 7), a);
  return info.Env().Undefined();
}

}  // namespace

void register_cpu_optim(Napi::Env env, Napi::Object exports) {
  exports.Set("adamwStep", Napi::Function::New(env, AdamwStep));
}

}  // namespace telechat
