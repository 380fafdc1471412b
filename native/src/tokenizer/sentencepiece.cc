// SentencePiece handle table and batch encoding (see sentencepiece.h).
#include "tokenizer/sentencepiece.h"

#include <omp.h>
#include <sentencepiece_processor.h>

#include <map>
#include <memory>
#include <mutex>

namespace telechat {
namespace tok {
namespace {

std::mutex g_mutex;
std::map<int, std::unique_ptr<sentencepiece::SentencePieceProcessor>> g_models;
int g_next_handle = 1;

}  // namespace

int sp_load(const std::string& path, std::string* error) {
  auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status = sp->Load(path);
  if (!status.ok()) {
    *error = status.ToString();
    return 0;
  }
  std::lock_guard<std::mutex> lock(g_mutex);
  const int handle = g_next_handle++;
  g_models[handle] = std::move(sp);
  return handle;
}

bool sp_free(int handle) {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_models.erase(handle) == 1;
}

const sentencepiece::SentencePieceProcessor* sp_get(int handle) {
  std::lock_guard<std::mutex> lock(g_mutex);
  auto it = g_models.find(handle);
  return it == g_models.end() ? nullptr : it->second.get();
}

bool sp_encode_batch(const sentencepiece::SentencePieceProcessor& sp, const std::vector<std::string_view>& texts,
                     std::vector<int32_t>* ids, std::vector<int64_t>* offsets, std::string* error) {
  const int64_t n = static_cast<int64_t>(texts.size());
  std::vector<std::vector<int>> per_text(n);
  int64_t first_bad = -1;
  std::string bad_message;
  // Encode is const and thread-safe; dynamic scheduling because text lengths vary a lot.
#pragma omp parallel for schedule(dynamic, 16) if (n > 64)
  for (int64_t i = 0; i < n; i++) {
    const auto status = sp.Encode(texts[i], &per_text[i]);
    if (!status.ok()) {
#pragma omp critical
      if (first_bad < 0 || i < first_bad) {
        first_bad = i;
        bad_message = status.ToString();
      }
    }
  }
  if (first_bad >= 0) {
    *error = "text " + std::to_string(first_bad) + ": " + bad_message;
    return false;
  }
  offsets->assign(n + 1, 0);
  for (int64_t i = 0; i < n; i++) (*offsets)[i + 1] = (*offsets)[i] + static_cast<int64_t>(per_text[i].size());
  ids->resize((*offsets)[n]);
  for (int64_t i = 0; i < n; i++) std::copy(per_text[i].begin(), per_text[i].end(), ids->begin() + (*offsets)[i]);
  return true;
}

}  // namespace tok
}  // namespace telechat
