// Tokenizer bindings: SentencePiece models by handle (native/src/tokenizer/sentencepiece.h).
// Ids come back as Int32Arrays; special-token policy lives in TypeScript (src/data).
#include <sentencepiece_processor.h>

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "bind/args.h"
#include "bind/bindings.h"
#include "tokenizer/sentencepiece.h"

namespace telechat {
namespace {

using sentencepiece::SentencePieceProcessor;

const SentencePieceProcessor* model_arg(const Napi::CallbackInfo& info, size_t i) {
  const SentencePieceProcessor* sp = tok::sp_get(static_cast<int>(int_arg(info, i)));
  if (!sp) Napi::Error::New(info.Env(), "sentencepiece: not a live model handle (freed?)").ThrowAsJavaScriptException();
  return sp;
}

Napi::Int32Array int32_array(Napi::Env env, const int32_t* data, size_t n) {
  Napi::Int32Array out = Napi::Int32Array::New(env, n);
  if (n) std::memcpy(out.Data(), data, n * sizeof(int32_t));
  return out;
}

// spLoad(path) -> handle
Napi::Value SpLoad(const Napi::CallbackInfo& info) {
  std::string error;
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  const int handle = tok::sp_load(path, &error);
  if (!handle) {
    Napi::Error::New(info.Env(), path + ": cannot load SentencePiece model: " + error).ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  return Napi::Number::New(info.Env(), handle);
}

Napi::Value SpFree(const Napi::CallbackInfo& info) {
  if (!tok::sp_free(static_cast<int>(int_arg(info, 0)))) {
    Napi::Error::New(info.Env(), "sentencepiece: free of a handle that is not live").ThrowAsJavaScriptException();
  }
  return info.Env().Undefined();
}

// spEncode(handle, text) -> Int32Array
Napi::Value SpEncode(const Napi::CallbackInfo& info) {
  const SentencePieceProcessor* sp = model_arg(info, 0);
  if (!sp) return info.Env().Undefined();
  std::vector<int> ids;
  const auto status = sp->Encode(info[1].As<Napi::String>().Utf8Value(), &ids);
  if (!status.ok()) {
    Napi::Error::New(info.Env(), "sentencepiece: encode failed: " + status.ToString()).ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  return int32_array(info.Env(), ids.data(), ids.size());
}

// spEncodeBatch(handle, texts[]) -> { ids: Int32Array, offsets: Float64Array (n+1) }
Napi::Value SpEncodeBatch(const Napi::CallbackInfo& info) {
  const SentencePieceProcessor* sp = model_arg(info, 0);
  if (!sp) return info.Env().Undefined();
  Napi::Array arr = info[1].As<Napi::Array>();
  std::vector<std::string> texts(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) texts[i] = arr.Get(i).As<Napi::String>().Utf8Value();
  std::vector<std::string_view> views(texts.begin(), texts.end());
  std::vector<int32_t> ids;
  std::vector<int64_t> offsets;
  std::string error;
  if (!tok::sp_encode_batch(*sp, views, &ids, &offsets, &error)) {
    Napi::Error::New(info.Env(), "sentencepiece: encode failed at " + error).ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  Napi::Float64Array offs = Napi::Float64Array::New(info.Env(), offsets.size());
  for (size_t i = 0; i < offsets.size(); i++) offs[i] = static_cast<double>(offsets[i]);
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("ids", int32_array(info.Env(), ids.data(), ids.size()));
  out.Set("offsets", offs);
  return out;
}

// Many texts given as ONE UTF-8 buffer plus byte offsets (n+1), encoded on a libuv worker
// thread so JavaScript can prepare the next batch meanwhile (no per-text string objects
// either way): spEncodeUtf8Async(handle, utf8: Uint8Array, byteOffsets: Int32Array)
//   -> Promise<{ ids: Int32Array, offsets: Int32Array (n+1) }>.
// The bytes are copied before queuing; the model must stay loaded until the promise settles.
class EncodeUtf8Worker : public Napi::AsyncWorker {
 public:
  EncodeUtf8Worker(Napi::Env env, const SentencePieceProcessor* sp, std::string bytes, std::vector<int32_t> byte_offsets)
      : Napi::AsyncWorker(env),
        sp_(sp),
        bytes_(std::move(bytes)),
        byte_offsets_(std::move(byte_offsets)),
        deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    std::vector<std::string_view> views(byte_offsets_.size() - 1);
    for (size_t i = 0; i + 1 < byte_offsets_.size(); i++) {
      views[i] = std::string_view(bytes_.data() + byte_offsets_[i], byte_offsets_[i + 1] - byte_offsets_[i]);
    }
    std::string error;
    if (!tok::sp_encode_batch(*sp_, views, &ids_, &offsets_, &error)) SetError("sentencepiece: encode failed at " + error);
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Int32Array offs = Napi::Int32Array::New(env, offsets_.size());
    for (size_t i = 0; i < offsets_.size(); i++) offs[i] = static_cast<int32_t>(offsets_[i]);
    Napi::Object out = Napi::Object::New(env);
    out.Set("ids", int32_array(env, ids_.data(), ids_.size()));
    out.Set("offsets", offs);
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  const SentencePieceProcessor* sp_;
  std::string bytes_;
  std::vector<int32_t> byte_offsets_;
  std::vector<int32_t> ids_;
  std::vector<int64_t> offsets_;
  Napi::Promise::Deferred deferred_;
};

Napi::Value SpEncodeUtf8Async(const Napi::CallbackInfo& info) {
  const SentencePieceProcessor* sp = model_arg(info, 0);
  if (!sp) return info.Env().Undefined();
  Napi::Uint8Array utf8 = info[1].As<Napi::Uint8Array>();
  Napi::Int32Array offs = info[2].As<Napi::Int32Array>();
  const size_t n_offs = offs.ElementLength();
  std::vector<int32_t> byte_offsets(offs.Data(), offs.Data() + n_offs);
  bool ok = n_offs >= 1 && byte_offsets[0] == 0 && static_cast<size_t>(byte_offsets[n_offs - 1]) <= utf8.ByteLength();
  for (size_t i = 1; ok && i < n_offs; i++) ok = byte_offsets[i] >= byte_offsets[i - 1];
  if (!ok) {
    Napi::RangeError::New(info.Env(), "spEncodeUtf8Async: byte offsets must start at 0, not decrease, and stay in the buffer")
        .ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  std::string bytes(reinterpret_cast<const char*>(utf8.Data()), byte_offsets[n_offs - 1]);
  auto* worker = new EncodeUtf8Worker(info.Env(), sp, std::move(bytes), std::move(byte_offsets));
  Napi::Promise promise = worker->Promise();
  worker->Queue();  // the worker deletes itself after OnOK / OnError
  return promise;
}

// spDecode(handle, Int32Array) -> string
Napi::Value SpDecode(const Napi::CallbackInfo& info) {
  const SentencePieceProcessor* sp = model_arg(info, 0);
  if (!sp) return info.Env().Undefined();
  Napi::Int32Array arr = info[1].As<Napi::Int32Array>();
  std::vector<int> ids(arr.Data(), arr.Data() + arr.ElementLength());
  for (int id : ids) {
    if (id < 0 || id >= sp->GetPieceSize()) {
      Napi::RangeError::New(info.Env(), "sentencepiece: decode of id " + std::to_string(id) + " outside the vocabulary")
          .ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
  }
  std::string text;
  const auto status = sp->Decode(ids, &text);
  if (!status.ok()) {
    Napi::Error::New(info.Env(), "sentencepiece: decode failed: " + status.ToString()).ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  return Napi::String::New(info.Env(), text);
}

Napi::Value SpVocabSize(const Napi::CallbackInfo& info) {
  const SentencePieceProcessor* sp = model_arg(info, 0);
  if (!sp) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), sp->GetPieceSize());
}

// spPieceToId(handle, piece) -> id (the unknown id when the piece is absent)
Napi::Value SpPieceToId(const Napi::CallbackInfo& info) {
  const SentencePieceProcessor* sp = model_arg(info, 0);
  if (!sp) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), sp->PieceToId(info[1].As<Napi::String>().Utf8Value()));
}

// spPieceInfo(handle, id) -> { piece, unknown, control, byte }
Napi::Value SpPieceInfo(const Napi::CallbackInfo& info) {
  const SentencePieceProcessor* sp = model_arg(info, 0);
  if (!sp) return info.Env().Undefined();
  const int64_t id = int_arg(info, 1);
  if (id < 0 || id >= sp->GetPieceSize()) {
    Napi::RangeError::New(info.Env(), "sentencepiece: id " + std::to_string(id) + " outside the vocabulary")
        .ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  const int i = static_cast<int>(id);
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("piece", Napi::String::New(info.Env(), sp->IdToPiece(i)));
  out.Set("unknown", Napi::Boolean::New(info.Env(), sp->IsUnknown(i)));
  out.Set("control", Napi::Boolean::New(info.Env(), sp->IsControl(i)));
  out.Set("byte", Napi::Boolean::New(info.Env(), sp->IsByte(i)));
  return out;
}

}  // namespace

void register_tokenizer(Napi::Env env, Napi::Object exports) {
  exports.Set("spLoad", Napi::Function::New(env, SpLoad));
  exports.Set("spFree", Napi::Function::New(env, SpFree));
  exports.Set("spEncode", Napi::Function::New(env, SpEncode));
  exports.Set("spEncodeBatch", Napi::Function::New(env, SpEncodeBatch));
  exports.Set("spEncodeUtf8Async", Napi::Function::New(env, SpEncodeUtf8Async));
  exports.Set("spDecode", Napi::Function::New(env, SpDecode));
  exports.Set("spVocabSize", Napi::Function::New(env, SpVocabSize));
  exports.Set("spPieceToId", Napi::Function::New(env, SpPieceToId));
  exports.Set("spPieceInfo", Napi::Function::New(env, SpPieceInfo));
}

}  // namespace telechat
