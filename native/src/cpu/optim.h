// CPU optimizer kernels (separate from ops.h: they act on parameter shards, not activations).
#pragma once
#include <cstdint>

#include "cpu/dtype.h"

namespace telechat {
namespace cpu {

struct AdamParams {
  double lr;
  double beta1;
  double beta2;
  float eps;
  double weight_decay;
  int64_t step;       // 1-based optimizer step, for bias correction
  float grad_scale;   // multiplies the gradient first (1/loss_scale times the clipping factor)
  bool adam_w_mode;   // true: decoupled decay (AdamW); false: L2 added to the gradient (Adam)
};

// Updates n elements: master (fp32) and moments m, v (fp32) in place from grad (grad_dt);
// when param_copy is not null, also writes the updated weights there in param_dt.
void adamw_step(float* master, void* param_copy, DType param_dt, const void* grad, DType grad_dt, float* m, float* v,
                int64_t n, const AdamParams& a);

}  // namespace cpu
}  // namespace telechat
