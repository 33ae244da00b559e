#include "loader/tokenizer.h"

#include <random>

#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "loader/gguf_file.h"
#include "loader/gguf_writer.h"
#include "loader/load_tokenizer.h"

namespace ggrt {
namespace {

class QwenTokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    file_ = GgufFile::Open("external/shared/models/qwen2.5-vocab.gguf")->release();
    tokenizer_ = LoadTokenizer(*file_)->release();
  }
  static GgufFile* file_;
  static Tokenizer* tokenizer_;
};
GgufFile* QwenTokenizerTest::file_;
Tokenizer* QwenTokenizerTest::tokenizer_;

TEST_F(QwenTokenizerTest, VocabularyAndSpecialIds) {
  EXPECT_EQ(tokenizer_->n_vocab(), 151936);
  EXPECT_EQ(tokenizer_->bos_id(), 151643);
  EXPECT_EQ(tokenizer_->eos_id(), 151645);
  EXPECT_FALSE(tokenizer_->add_bos());
  EXPECT_TRUE(tokenizer_->IsEndOfGeneration(151645));  // <|im_end|>
  EXPECT_TRUE(tokenizer_->IsEndOfGeneration(151643));  // <|endoftext|>
  EXPECT_FALSE(tokenizer_->IsEndOfGeneration(9707));
}

TEST_F(QwenTokenizerTest, SpecialTokensAreMatchedWholeOnlyWhenAsked) {
  const std::string text = "<|im_start|>user\nHi<|im_end|>";
  auto parsed = tokenizer_->Encode(text, {.parse_special = true});
  ASSERT_TRUE(parsed.ok());
  const int32_t im_start = tokenizer_->Find("<|im_start|>");
  const int32_t im_end = tokenizer_->Find("<|im_end|>");
  ASSERT_GE(im_start, 0);
  EXPECT_EQ(parsed->front(), im_start);
  EXPECT_EQ(parsed->back(), im_end);
  auto plain = tokenizer_->Encode(text, {});
  ASSERT_TRUE(plain.ok());
  for (int32_t id : *plain) EXPECT_NE(id, im_start);
  EXPECT_GT(plain->size(), parsed->size());
}

TEST_F(QwenTokenizerTest, DecodesByteLevelTokensToRealText) {
  const std::string text = " separately, caf\xc3\xa9 \xe6\x88\x91\xe6\x83\xb3 \xf0\x9f\xa6\x99!";
  auto ids = tokenizer_->Encode(text, {});
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(tokenizer_->Decode(*ids), text);
  const int32_t sep = tokenizer_->Find("\xc4\xa0separately");  // "Ġseparately"
  ASSERT_GE(sep, 0);
  EXPECT_EQ(tokenizer_->TokenBytes(sep), " separately");
}

TEST_F(QwenTokenizerTest, StreamDecoderHoldsPartialUtf8) {
  // The llama emoji U+1F999 (F0 9F A6 99) as four single-byte tokens, in GPT-2's byte-to-unicode spelling:
  // F0 -> U+00F0, 9F -> U+0141, A6 -> U+00A6, 99 -> U+013B. No output may hold half a character.
  std::vector<int32_t> ids;
  for (const char* t : {"\xc3\xb0", "\xc5\x81", "\xc2\xa6", "\xc4\xbb"}) {
    ids.push_back(tokenizer_->Find(t));
    ASSERT_GE(ids.back(), 0) << t;
  }
  ids.insert(ids.end(), ids.begin(), ids.end());
  TokenStreamDecoder decoder(*tokenizer_);
  std::string all;
  for (int32_t id : ids) {
    const std::string piece = decoder.Push(id);
    if (!piece.empty()) {
      EXPECT_EQ(piece.size() % 4, 0u) << "partial character emitted";
    }
    all += piece;
  }
  all += decoder.Flush();
  EXPECT_EQ(all, "\xf0\x9f\xa6\x99\xf0\x9f\xa6\x99");
  EXPECT_EQ(tokenizer_->TokenBytes(tokenizer_->Find("<|im_end|>")), "");
  EXPECT_EQ(tokenizer_->TokenBytes(tokenizer_->Find("<|im_end|>"), true), "<|im_end|>");
}

TEST(SpmTokenizerTest, SpacePrefixByteFallbackAndDecoding) {
  auto file = GgufFile::Open("external/shared/tokenizer/llama-spm.gguf");
  ASSERT_TRUE(file.ok()) << file.status();
  auto t = LoadTokenizer(**file);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE((*t)->add_bos());
  auto ids = (*t)->Encode("Hello world", {.add_bos = true});
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int32_t>{1, 15043, 3186}));
  // A character without a piece falls back to its UTF-8 bytes as <0xNN> tokens.
  auto emoji = (*t)->Encode("\xf0\x9f\xa6\x99", {});
  ASSERT_TRUE(emoji.ok());
  EXPECT_EQ((*t)->TokenText(emoji->back()), "<0x99>");
  EXPECT_EQ((*t)->Decode(*emoji), "\xf0\x9f\xa6\x99");
  EXPECT_EQ((*t)->Decode(*ids), "Hello world");
  // <s> in text is not special unless asked.
  auto special = (*t)->Encode("<s>x", {.parse_special = true});
  ASSERT_TRUE(special.ok());
  EXPECT_EQ(special->front(), 1);
}

TEST(TokenizerErrorsTest, UnknownModelAndPreTokenizerAreErrors) {
  GgufWriter w;
  w.SetString("tokenizer.ggml.model", "rwkv");
  w.SetStringArray("tokenizer.ggml.tokens", {"a"});
  std::string bytes = w.Serialize();
  auto f = GgufFile::Parse(bytes, "v.gguf");
  auto t = LoadTokenizer(**f);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("unsupported tokenizer model 'rwkv'"), std::string::npos);

  w.SetString("tokenizer.ggml.model", "gpt2");
  w.SetString("tokenizer.ggml.pre", "made-up");
  w.SetStringArray("tokenizer.ggml.merges", {});
  bytes = w.Serialize();
  auto t2 = LoadTokenizer(**GgufFile::Parse(bytes, "v.gguf"));
  ASSERT_FALSE(t2.ok());
  EXPECT_NE(t2.status().message().find("unsupported pre-tokenizer 'made-up'"), std::string::npos);
}

// As llama.cpp: a BPE vocabulary that names no pre-tokenizer gets the default regexes and a warning.
TEST(TokenizerErrorsTest, MissingPreTokenizerFallsBackWithAWarning) {
  GgufWriter w;
  w.SetString("tokenizer.ggml.model", "gpt2");
  w.SetStringArray("tokenizer.ggml.tokens", {"a", "b", "ab"});
  w.SetStringArray("tokenizer.ggml.merges", {"a b"});
  const std::string bytes = w.Serialize();
  auto t = LoadTokenizer(**GgufFile::Parse(bytes, "v.gguf"));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_NE((*t)->warning().find("names no pre-tokenizer (tokenizer.ggml.pre)"), std::string::npos);
  auto ids = (*t)->Encode("ab", {});
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, std::vector<int32_t>{2});
}

TEST(TokenizerErrorsTest, MalformedByteTokenIsALoadError) {
  GgufWriter w;
  w.SetString("tokenizer.ggml.model", "llama");
  w.SetStringArray("tokenizer.ggml.tokens", {"<unk>", "<0x41>", "<0xZZ>"});
  w.SetI32Array("tokenizer.ggml.token_type", {2, 6, 6});
  const std::string bytes = w.Serialize();
  auto t = LoadTokenizer(**GgufFile::Parse(bytes, "v.gguf"));
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("tokenizer.ggml.tokens[2] = '<0xZZ>' is a byte token"), std::string::npos)
      << t.status();
}

TEST(TokenizerErrorsTest, MissingBosNamesFileAndKey) {
  GgufWriter w;
  w.SetString("tokenizer.ggml.model", "llama");
  w.SetStringArray("tokenizer.ggml.tokens", {"a"});
  const std::string bytes = w.Serialize();
  auto t = LoadTokenizer(**GgufFile::Parse(bytes, "v.gguf"));
  ASSERT_TRUE(t.ok()) << t.status();
  const absl::Status s = (*t)->Encode("a", {.add_bos = true}).status();
  EXPECT_NE(s.message().find("v.gguf: the vocabulary has no BOS token (tokenizer.ggml.bos_token_id)"),
            std::string::npos)
      << s;
}

// Random text from pieces that stress the pre-tokenizers and merges (contractions, digit runs, whitespace
// runs, accents and combining marks, CJK, Hangul, Arabic, emoji with joiners, text that looks like special
// tokens): encoding then decoding gives the text back on both vocabularies, every id in range. Then arbitrary
// bytes (invalid UTF-8 among them): an id list or an error, never a crash.
std::string RandomText(std::mt19937& rng) {
  static const char* const kPieces[] = {
      "the", " cat", "'s", "'LL", "n't", " 12345", "3.14", "  ", "\n", "\n\n", "\t", " \t \n", "!!!", "...",
      "caf\xc3\xa9", "e\xcc\x81", "\xce\xb1\xce\xb2\xce\xb3", "\xe6\x88\x91\xe6\x83\xb3", "\xed\x95\x9c\xea\xb8\x80",
      "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7", "\xf0\x9f\xa6\x99", "\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb",
      "<|im_end|>", "<s>", "</s>", "<0x41>", "\xc4\xa0", "\xe2\x96\x81", " ", "A", "Z9", "_", "\xef\xbb\xbf",
      "\xe2\x80\xaf", "\xc2\xa0"};
  constexpr int kCount = sizeof(kPieces) / sizeof(kPieces[0]);
  std::string text;
  for (int i = 1 + static_cast<int>(rng() % 24); i > 0; --i) text += kPieces[rng() % kCount];
  return text;
}

// `spm`: SentencePiece writes spaces as U+2581 before it encodes and turns every U+2581 back into a space
// when it decodes, so a U+2581 in the text comes back as a space (as in SentencePiece and llama.cpp).
void ExpectRoundTrips(const Tokenizer& t, const char* name, bool spm) {
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    const std::string text = RandomText(rng);
    auto ids = t.Encode(text, {});
    ASSERT_TRUE(ids.ok()) << name << ": " << ids.status();
    for (int32_t id : *ids) ASSERT_TRUE(id >= 0 && id < t.n_vocab()) << name << ": " << id;
    const std::string want = spm ? absl::StrReplaceAll(text, {{"\xe2\x96\x81", " "}}) : text;
    ASSERT_EQ(t.Decode(*ids), want) << name << " case " << i;
  }
  for (int i = 0; i < 300; ++i) {
    std::string bytes(rng() % 64, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    auto ids = t.Encode(bytes, {.parse_special = i % 2 == 0});
    if (!ids.ok()) continue;
    for (int32_t id : *ids) ASSERT_TRUE(id >= 0 && id < t.n_vocab()) << name << ": " << id;
    t.Decode(*ids);
  }
}

TEST_F(QwenTokenizerTest, RandomTextRoundTripsAndArbitraryBytesNeverFail) {
  ExpectRoundTrips(*tokenizer_, "qwen2", /*spm=*/false);
}

TEST(SpmTokenizerTest, RandomTextRoundTripsAndArbitraryBytesNeverFail) {
  auto file = GgufFile::Open("external/shared/tokenizer/llama-spm.gguf");
  ASSERT_TRUE(file.ok()) << file.status();
  auto t = LoadTokenizer(**file);
  ASSERT_TRUE(t.ok()) << t.status();
  ExpectRoundTrips(**t, "llama-spm", /*spm=*/true);
}

// Many specials that share long prefixes with the text: every position is matched against the specials at
// once, not one by one.
TEST(TokenizerTest, ManySpecialTokensMatchCorrectly) {
  GgufWriter w;
  w.SetString("tokenizer.ggml.model", "llama");
  std::vector<std::string> tokens = {"<unk>", "a", "b"};
  std::vector<int32_t> types = {2, 1, 1};
  for (int i = 0; i < 20000; ++i) {
    tokens.push_back("<|" + std::to_string(i) + "|>");
    types.push_back(3);
  }
  w.SetStringArray("tokenizer.ggml.tokens", tokens);
  w.SetI32Array("tokenizer.ggml.token_type", types);
  w.SetBool("tokenizer.ggml.add_space_prefix", false);
  const std::string bytes = w.Serialize();
  auto t = LoadTokenizer(**GgufFile::Parse(bytes, "v.gguf"));
  ASSERT_TRUE(t.ok()) << t.status();
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "a<|1999" + std::to_string(i % 10) + "|><|1";
  auto ids = (*t)->Encode(text, {.parse_special = true});
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ((*ids)[0], 1);
  EXPECT_EQ((*ids)[1], 3 + 19990);
  // "<|1" is no token and this vocabulary has no byte tokens: three unknowns.
  EXPECT_EQ((*ids)[2], 0);
  EXPECT_EQ((*ids)[6], 3 + 19991);
  EXPECT_EQ(ids->size(), 2000u * 5);
}

}  // namespace
}  // namespace ggrt
