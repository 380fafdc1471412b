// SentencePiece models behind integer handles, so JS holds a number rather than a pointer.
// Encoding goes through the native library (Debian libsentencepiece), which is what makes ids
// identical to Python's sentencepiece. The processor allocates its own memory (it is a
// third-party library); only the handle table is ours.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace telechat {
namespace tok {

// Loads a serialized model file; returns a handle > 0, or 0 with *error set.
int sp_load(const std::string& path, std::string* error);
// Drops the model; false when the handle is not live.
bool sp_free(int handle);
// The processor for a live handle, or nullptr.
const sentencepiece::SentencePieceProcessor* sp_get(int handle);

// Encodes texts[i] into ids[offsets[i] .. offsets[i+1]) (offsets has n+1 entries). Texts are
// independent, so they are spread over OpenMP threads; the output order is the input order.
// Returns false with *error set (naming the text index) when the library reports a failure.
bool sp_encode_batch(const sentencepiece::SentencePieceProcessor& sp, const std::vector<std::string_view>& texts,
                     std::vector<int32_t>* ids, std::vector<int64_t>* offsets, std::string* error);

}  // namespace tok
}  // namespace telechat
