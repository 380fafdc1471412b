// Dropout on a residual branch, fused with the residual add (TeleChat's dropout_add):
//   forward:  out = resid + mask * scale * h        (out may alias resid or h)
//   backward: dh  = mask * scale * dy               (d resid = dy needs no kernel)
// The mask is recomputed from its coordinates (dropout_hash.h), never stored.
// mask * scale * h is rounded before the add (two roundings, as PyTorch's dropout then add): this
// file is built with -ffp-contract=off (CMakeLists.txt), so no CPU fuses them into one FMA.
#include <omp.h>

#include "cpu/ops.h"
#include "cpu/storage.h"
#include "dropout_hash.h"

namespace telechat {
namespace cpu {

template <typename S>
static void dropout_add_forward_impl(S* out, const S* resid, const S* h, const int32_t* tokens, uint64_t key,
                                     uint32_t threshold, float scale, int64_t T, int64_t C) {
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < T; t++) {
    const uint64_t tk = dropout::token_key(key, tokens[2 * t], tokens[2 * t + 1]);
    for (int64_t c = 0; c < C; c++) {
      const int64_t i = t * C + c;
      const float branch = dropout::kept(tk, c, threshold) ? to_f32(h[i]) * scale : 0.0f;
      out[i] = from_f32<S>(to_f32(resid[i]) + branch);
    }
  }
}

void dropout_add_forward(void* out, const void* resid, const void* h, const int32_t* tokens, uint64_t key,
                         uint32_t threshold, float scale, int64_t T, int64_t C, DType dt) {
  TELECHAT_DISPATCH(dt, S, dropout_add_forward_impl(static_cast<S*>(out), static_cast<const S*>(resid),
                                                    static_cast<const S*>(h), tokens, key, threshold, scale, T, C));
}

template <typename S>
static void dropout_backward_impl(S* dh, const S* dy, const int32_t* tokens, uint64_t key, uint32_t threshold,
                                  float scale, int64_t T, int64_t C) {
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < T; t++) {
    const uint64_t tk = dropout::token_key(key, tokens[2 * t], tokens[2 * t + 1]);
    for (int64_t c = 0; c < C; c++) {
      const int64_t i = t * C + c;
      dh[i] = from_f32<S>(dropout::kept(tk, c, threshold) ? to_f32(dy[i]) * scale : 0.0f);
    }
  }
}

void dropout_backward(void* dh, const void* dy, const int32_t* tokens, uint64_t key, uint32_t threshold, float scale,
                      int64_t T, int64_t C, DType dt) {
  TELECHAT_DISPATCH(dt, S, dropout_backward_impl(static_cast<S*>(dh), static_cast<const S*>(dy), tokens, key,
                                                 threshold, scale, T, C));
}

}  // namespace cpu
}  // namespace telechat
