// Argument helpers for the N-API bindings. Buffers cross the boundary as plain JS numbers
// holding addresses (exact up to 2^53, which covers user-space pointers); the TypeScript
// wrapper in src/native owns type and shape checks, these only convert.
#pragma once
#include <napi.h>

#include <cstdint>
#include <exception>
#include <string>

#include "cpu/dtype.h"

namespace telechat {

inline void* ptr_arg(const Napi::CallbackInfo& info, size_t i) {
  if (info[i].IsNull() || info[i].IsUndefined()) return nullptr;
  return reinterpret_cast<void*>(static_cast<uintptr_t>(info[i].As<Napi::Number>().Int64Value()));
}
inline int64_t int_arg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Int64Value(); }
inline double num_arg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().DoubleValue(); }
inline bool bool_arg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Boolean>().Value(); }
inline DType dtype_arg(const Napi::CallbackInfo& info, size_t i) { return static_cast<DType>(int_arg(info, i)); }
inline Napi::Number ptr_value(Napi::Env env, const void* p) {
  return Napi::Number::New(env, static_cast<double>(reinterpret_cast<uintptr_t>(p)));
}

// Runs `fn`, turning a C++ exception into one JS Error carrying its message.
template <typename F>
Napi::Value guarded(const Napi::CallbackInfo& info, F fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    Napi::Error::New(info.Env(), e.what()).ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
}

}  // namespace telechat
