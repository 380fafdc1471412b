// LoRA adapter products on register tiles (the kernels of attention_tiles.h), one pass
// over 64-row blocks of x, y and dy per call. Every adapter product is thin ([T, R] on one side),
// so library GEMMs spend their time packing and re-streaming the wide operand: here each thread
// takes whole row blocks and runs all of a block's products while it is in cache, and gA, gB
// sum in fp32 over fixed row chunks, added to the gradients in chunk order at the end (the same
// bits at any thread count).
//   fp32 storage: vfmadd (tile_gemm_f32: AVX-512F, or AVX2 with FMA).
//   bf16 storage: vdpbf16ps (tile_gemm_bf16) where the CPU has AVX512-BF16, else each row block
//   widened to fp32 (exactly) for tile_gemm_f32; either way u and du rounded to bf16 before their
//   next product and y, dx summed in fp32 and rounded once, as lora.cc's oneDNN path does.
// Used when lora_tiles_apply() says so; lora.cc keeps OpenBLAS / oneDNN for everything else and
// when TELECHAT_CPU_LORA_TILES=gemm (the default is auto; anything else is an error).
#pragma once
#include <cstdint>
#include <string>

#include "cpu/dtype.h"

namespace telechat {
namespace cpu {

// True when an adapter of this shape and storage runs here: fp32 or bf16 storage (AVX-512F or AVX2
// with FMA), fp32 gradients, R, In and Out multiples of 16, and the per-chunk gA and
// gB partials (8 x R x (In + Out) fp32) within 16 MiB.
bool lora_tiles_apply(DType dt, DType gdt, int64_t In, int64_t R, int64_t Out);

// What LoRA adapter products of fp32 and bf16 storage run on now, in words.
std::string lora_tiles_text();

// lora_forward and lora_backward (ops.h) for a shape lora_tiles_apply accepts.
void lora_tiles_forward(void* y, void* u, const void* x, const void* a, const void* b, int64_t T, int64_t In,
                        int64_t R, int64_t Out, int64_t width, int64_t col0, float scale, DType dt, bool accumulate);
void lora_tiles_backward(void* dx, float* ga, float* gb, const void* dy, const void* x, const void* u, const void* a,
                         const void* b, int64_t T, int64_t In, int64_t R, int64_t Out, int64_t width, int64_t col0,
                         float scale, DType dt, bool accumulate_dx);

}  // namespace cpu
}  // namespace telechat
