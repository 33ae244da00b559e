#include "loader/chat_template.h"

#include "gtest/gtest.h"
#include "loader/gguf_writer.h"
#include "loader/load_tokenizer.h"

namespace ggrt {
namespace {

TEST(ChatTemplateTest, QwenVocabularyWithoutTemplateUsesChatMl) {
  auto f = GgufFile::Open("external/shared/models/qwen2.5-vocab.gguf");
  ASSERT_TRUE(f.ok());
  auto tok = LoadTokenizer(**f);
  ASSERT_TRUE(tok.ok());
  auto t = DetectChatTemplate(**f, **tok);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->format, ChatFormat::kChatMl);
  EXPECT_EQ(ApplyChatTemplate(*t, {{"user", "Hi"}}, true),
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  // The rendered prompt tokenizes with the chat tokens whole.
  auto ids = (*tok)->Encode(ApplyChatTemplate(*t, {{"user", "Hi"}}, true), {.parse_special = true});
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->front(), (*tok)->Find("<|im_start|>"));
}

TEST(ChatTemplateTest, QwenTemplateAddsItsDefaultSystemPrompt) {
  GgufWriter w;
  w.SetString("tokenizer.chat_template",
              "{%- if not system %}<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
              "assistant.<|im_end|>{% endif %}...");
  w.SetString("tokenizer.ggml.model", "llama");
  w.SetStringArray("tokenizer.ggml.tokens", {"a"});
  const std::string bytes = w.Serialize();
  auto f = GgufFile::Parse(bytes, "chat.gguf");
  auto tok = LoadTokenizer(**f);
  ASSERT_TRUE(tok.ok()) << tok.status();
  auto t = DetectChatTemplate(**f, **tok);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(ApplyChatTemplate(*t, {{"user", "Hi"}}, true),
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplateTest, UnknownTemplateAndNoTemplateAreErrors) {
  auto spm = GgufFile::Open("external/shared/tokenizer/llama-spm.gguf");
  ASSERT_TRUE(spm.ok());
  auto tok = LoadTokenizer(**spm);
  ASSERT_TRUE(tok.ok());
  EXPECT_EQ(DetectChatTemplate(**spm, **tok).status().code(), absl::StatusCode::kNotFound);

  GgufWriter w;
  w.SetString("tokenizer.chat_template", "{{ bos }}<start_of_turn>user");
  const std::string bytes = w.Serialize();
  auto f = GgufFile::Parse(bytes, "gemma.gguf");
  EXPECT_EQ(DetectChatTemplate(**f, **tok).status().code(), absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace ggrt
