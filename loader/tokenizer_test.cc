#include "loader/tokenizer.h"

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

}  // namespace
}  // namespace ggrt
