// Each binding file registers one family of functions on the addon's exports.
#pragma once
#include <napi.h>

namespace telechat {
void register_memory(Napi::Env env, Napi::Object exports);
void register_cpu_ops(Napi::Env env, Napi::Object exports);
void register_cpu_attention(Napi::Env env, Napi::Object exports);
void register_cpu_optim(Napi::Env env, Napi::Object exports);
void register_tokenizer(Napi::Env env, Napi::Object exports);
void register_comm(Napi::Env env, Napi::Object exports);
void register_cuda(Napi::Env env, Napi::Object exports);  // cuBLAS probe always; cuda* only with nvcc
}  // namespace telechat
