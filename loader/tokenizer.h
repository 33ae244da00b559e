// Tokenizer interface and the vocabulary every tokenizer shares, read from `tokenizer.ggml.*` metadata.
// Concrete tokenizers: SpmTokenizer (`llama`) and BpeTokenizer (`gpt2`); LoadTokenizer picks one.
#ifndef GGRT_LOADER_TOKENIZER_H_
#define GGRT_LOADER_TOKENIZER_H_

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loader/gguf_file.h"
#include "loader/special_tokens.h"

namespace ggrt {

enum class TokenType : int32_t {
  kUndefined = 0, kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6,
};

// A piece of text to encode and whether special-token texts in it become special tokens. A chat prompt is
// the template's markers (special) around the messages' contents (plain), so text a user types can never
// become a control token.
struct TextSegment {
  std::string text;
  bool parse_special = false;
};

struct EncodeOptions {
  bool add_bos = false;        // Prepend BOS (callers usually pass tokenizer.add_bos()).
  bool parse_special = false;  // Match control/user-defined token texts (e.g. <|im_start|>) whole.
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  absl::StatusOr<std::vector<int32_t>> Encode(absl::string_view text, const EncodeOptions& options) const;
  // The segments' texts encoded as one text, in which special tokens are matched only inside segments that
  // allow them (a match never crosses a segment's end). Plain text on both sides of a boundary is encoded
  // as one fragment, exactly as if the text had no segments.
  absl::StatusOr<std::vector<int32_t>> Encode(const std::vector<TextSegment>& segments, bool add_bos) const;

  // The bytes a token stands for (byte-level and byte-fallback tokens mapped back, SPM '▁' as ' ').
  // Control tokens give "" unless `render_special`.
  std::string TokenBytes(int32_t id, bool render_special = false) const;
  // Whole-sequence decoding; a leading space added by the SPM space prefix is dropped.
  std::string Decode(const std::vector<int32_t>& ids) const;

  int n_vocab() const { return static_cast<int>(tokens_.size()); }
  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }
  bool add_bos() const { return add_bos_; }
  // Something the user should know about how this vocabulary was read (e.g. a defaulted pre-tokenizer).
  const std::string& warning() const { return warning_; }
  // Whether the decoder drops the first piece's leading space (SPM's add_space_prefix).
  bool strips_leading_space() const { return add_space_prefix_; }
  bool IsEndOfGeneration(int32_t id) const;
  const std::string& TokenText(int32_t id) const { return tokens_[id]; }
  TokenType token_type(int32_t id) const { return types_[id]; }
  // Exact vocabulary lookup of a token's text, or -1.
  int32_t Find(absl::string_view text) const;

 protected:
  // Reads tokens, types, scores and special ids from `file`; errors name the file and key.
  absl::Status LoadVocab(const GgufFile& file);
  // Encodes one fragment free of special tokens. `after_special` is true at the start of the text and after
  // a special token (where SPM adds its space prefix).
  virtual void EncodeFragment(absl::string_view text, bool after_special, std::vector<int32_t>* out) const = 0;
  // Bytes of a non-control token.
  virtual std::string PieceBytes(int32_t id) const = 0;

  std::vector<std::string> tokens_;
  std::vector<TokenType> types_;
  std::vector<float> scores_;
  std::unordered_map<std::string, int32_t> index_;
  std::string source_;  // The file the vocabulary came from, for messages.
  SpecialTokenMatcher specials_;  // Control and user-defined tokens.
  std::vector<int32_t> end_of_generation_;
  int32_t bos_id_ = -1;
  int32_t eos_id_ = -1;
  int32_t unk_id_ = -1;
  bool add_bos_ = false;
  std::string warning_;
  bool add_space_prefix_ = false;
};

// Turns a stream of token ids into UTF-8 text, holding back an incomplete multi-byte character until the
// token that completes it arrives.
class TokenStreamDecoder {
 public:
  // `at_start`: nothing precedes the stream, so SPM's leading space of the first piece is dropped.
  explicit TokenStreamDecoder(const Tokenizer& tokenizer, bool at_start = true)
      : tokenizer_(tokenizer), first_(at_start) {}
  // Text that became complete with `id` (possibly empty).
  std::string Push(int32_t id);
  // Whatever is still held back (an invalid tail is emitted as is).
  std::string Flush();

 private:
  const Tokenizer& tokenizer_;
  std::string pending_;
  bool first_;
};

}  // namespace ggrt

#endif  // GGRT_LOADER_TOKENIZER_H_
