#include "loader/tokenizer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "loader/unicode.h"

namespace ggrt {

absl::Status Tokenizer::LoadVocab(const GgufFile& f) {
  source_ = f.path();
  ASSIGN_OR_RETURN(tokens_, f.GetStringArray("tokenizer.ggml.tokens"));
  const size_t n = tokens_.size();
  if (n == 0 || n > (1u << 24)) {
    return absl::InvalidArgumentError(absl::StrCat(f.path(), ": tokenizer.ggml.tokens has ", n, " entries"));
  }
  types_.assign(n, TokenType::kNormal);
  if (f.Has("tokenizer.ggml.token_type")) {
    ASSIGN_OR_RETURN(const GgufArray* arr, f.GetArray("tokenizer.ggml.token_type"));
    if (arr->size() != n) {
      return absl::InvalidArgumentError(absl::StrCat(f.path(), ": tokenizer.ggml.token_type has ",
                                                     arr->size(), " entries for ", n, " tokens"));
    }
    for (size_t i = 0; i < n; ++i) {
      const GgufValue item = arr->at(i);
      const int64_t* t = std::get_if<int64_t>(&item.data);
      if (t == nullptr || *t < 0 || *t > 6) {
        return absl::InvalidArgumentError(
            absl::StrCat(f.path(), ": tokenizer.ggml.token_type[", i, "] is not a token type (0-6)"));
      }
      types_[i] = static_cast<TokenType>(*t);
    }
  }
  scores_.assign(n, 0.0f);
  if (f.Has("tokenizer.ggml.scores")) {
    ASSIGN_OR_RETURN(const GgufArray* arr, f.GetArray("tokenizer.ggml.scores"));
    if (arr->size() != n || arr->element_type() != GgufType::kF32) {
      return absl::InvalidArgumentError(
          absl::StrCat(f.path(), ": tokenizer.ggml.scores must be f32[", n, "]"));
    }
    for (size_t i = 0; i < n; ++i) scores_[i] = static_cast<float>(std::get<double>(arr->at(i).data));
  }
  index_.reserve(n);
  for (size_t i = 0; i < n; ++i) index_.emplace(tokens_[i], static_cast<int32_t>(i));

  auto token_id = [&](const char* key, int32_t* out) -> absl::Status {
    if (!f.Has(key)) return absl::OkStatus();
    ASSIGN_OR_RETURN(const int64_t id, f.GetInteger(key));
    if (id == 0xffffffffll || id == -1) return absl::OkStatus();  // "none" as some writers store it.
    if (id < 0 || id >= static_cast<int64_t>(n)) {
      return absl::InvalidArgumentError(absl::StrCat(f.path(), ": ", key, " = ", id, " is not a token id"));
    }
    *out = static_cast<int32_t>(id);
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(token_id("tokenizer.ggml.bos_token_id", &bos_id_));
  RETURN_IF_ERROR(token_id("tokenizer.ggml.eos_token_id", &eos_id_));
  RETURN_IF_ERROR(token_id("tokenizer.ggml.unknown_token_id", &unk_id_));
  int32_t eot = -1;
  RETURN_IF_ERROR(token_id("tokenizer.ggml.eot_token_id", &eot));

  std::vector<std::pair<std::string, int32_t>> specials;
  for (size_t i = 0; i < n; ++i) {
    if (types_[i] == TokenType::kControl || types_[i] == TokenType::kUserDefined) {
      specials.emplace_back(tokens_[i], static_cast<int32_t>(i));
    }
  }
  specials_ = SpecialTokenMatcher(std::move(specials));

  if (eos_id_ >= 0) end_of_generation_.push_back(eos_id_);
  if (eot >= 0) end_of_generation_.push_back(eot);
  for (const char* text : {"<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end_of_text|>", "<end_of_turn>"}) {
    const int32_t id = Find(text);
    if (id >= 0 && types_[id] == TokenType::kControl) end_of_generation_.push_back(id);
  }
  return absl::OkStatus();
}

int32_t Tokenizer::Find(absl::string_view text) const {
  auto it = index_.find(std::string(text));
  return it == index_.end() ? -1 : it->second;
}

bool Tokenizer::IsEndOfGeneration(int32_t id) const {
  return std::find(end_of_generation_.begin(), end_of_generation_.end(), id) != end_of_generation_.end();
}

absl::StatusOr<std::vector<int32_t>> Tokenizer::Encode(absl::string_view text,
                                                       const EncodeOptions& options) const {
  return Encode({TextSegment{std::string(text), options.parse_special}}, options.add_bos);
}

absl::StatusOr<std::vector<int32_t>> Tokenizer::Encode(const std::vector<TextSegment>& segments,
                                                       bool add_bos) const {
  std::vector<int32_t> out;
  if (add_bos) {
    if (bos_id_ < 0) {
      return absl::InvalidArgumentError(absl::StrCat(source_, ": the vocabulary has no BOS token "
                                                     "(tokenizer.ggml.bos_token_id) but one is to be added"));
    }
    out.push_back(bos_id_);
  }
  std::string text;
  for (const TextSegment& s : segments) text += s.text;
  bool after_special = true;
  size_t start = 0;  // Of the plain text not yet encoded.
  auto flush = [&](size_t end) {
    if (end > start) {
      EncodeFragment(absl::string_view(text).substr(start, end - start), after_special, &out);
      after_special = false;
    }
  };
  size_t segment_begin = 0;
  for (const TextSegment& s : segments) {
    const size_t segment_end = segment_begin + s.text.size();
    if (s.parse_special) {
      size_t i = segment_begin;
      while (i < segment_end) {
        const SpecialTokenMatcher::Match m =
            specials_.LongestPrefix(absl::string_view(text).substr(i, segment_end - i));
        if (m.id < 0) {
          ++i;
          continue;
        }
        flush(i);
        out.push_back(m.id);
        after_special = true;
        i += m.length;
        start = i;
      }
    }
    segment_begin = segment_end;
  }
  flush(text.size());
  return out;
}

std::string Tokenizer::TokenBytes(int32_t id, bool render_special) const {
  if (id < 0 || id >= n_vocab()) return "";
  const TokenType t = types_[id];
  if (t == TokenType::kControl || t == TokenType::kUnused) return render_special ? tokens_[id] : "";
  if (t == TokenType::kUserDefined) return tokens_[id];
  return PieceBytes(id);
}

std::string Tokenizer::Decode(const std::vector<int32_t>& ids) const {
  TokenStreamDecoder decoder(*this);
  std::string out;
  for (int32_t id : ids) out += decoder.Push(id);
  return out + decoder.Flush();
}

std::string TokenStreamDecoder::Push(int32_t id) {
  std::string piece = tokenizer_.TokenBytes(id);
  if (piece.empty()) return "";
  if (first_ && tokenizer_.strips_leading_space() && piece[0] == ' ') piece.erase(0, 1);
  first_ = false;
  pending_ += piece;
  // Emit everything up to an incomplete trailing sequence.
  size_t end = pending_.size();
  for (size_t back = 1; back <= 3 && back <= pending_.size(); ++back) {
    const uint8_t c = static_cast<uint8_t>(pending_[pending_.size() - back]);
    if ((c & 0xc0) == 0x80) continue;  // Continuation byte: keep looking for the lead.
    if (Utf8SequenceLength(c) > static_cast<int>(back)) end = pending_.size() - back;
    break;
  }
  std::string ready = pending_.substr(0, end);
  pending_.erase(0, end);
  return ready;
}

std::string TokenStreamDecoder::Flush() {
  std::string rest;
  rest.swap(pending_);
  return rest;
}

}  // namespace ggrt
