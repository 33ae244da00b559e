// Chat prompt formatting. GGUF files carry a Jinja template in `tokenizer.chat_template`; rather than embed
// a Jinja interpreter, ggrt recognises the template families it supports by their markers and renders them
// directly. An unrecognised template is an error, not a guess.
#ifndef GGRT_LOADER_CHAT_TEMPLATE_H_
#define GGRT_LOADER_CHAT_TEMPLATE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "loader/gguf_file.h"
#include "loader/tokenizer.h"

namespace ggrt {

// kRaw: an unrecognised template; the messages' contents are used as they are.
enum class ChatFormat { kChatMl, kLlama2, kLlama3, kMistral, kPhi3, kGemma, kRaw };

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

struct ChatTemplate {
  ChatFormat format;
  std::string default_system;  // Used when the conversation has no system message (Qwen2.5 has one).
  std::string warning;         // Set for kRaw: what the user should know.
};

// From tokenizer.chat_template (recognised by its markers: ChatML for Qwen2/Qwen3, Llama 2 and Mistral
// [INST], Llama 3 header tokens, Phi-3, Gemma turns), or ChatML when there is none but the vocabulary has
// <|im_start|>. An unrecognised template gives kRaw with a warning; no template and no chat tokens is an
// error.
absl::StatusOr<ChatTemplate> DetectChatTemplate(const GgufFile& file, const Tokenizer& tokenizer);

// The prompt, ending with the assistant's turn opened when `add_generation_prompt`: the template's markers
// as special segments, the messages' contents as plain ones (special too when `special_in_content`, for
// users who spell out control tokens on purpose).
std::vector<TextSegment> ApplyChatTemplate(const ChatTemplate& t, const std::vector<ChatMessage>& messages,
                                           bool add_generation_prompt, bool special_in_content = false);

// The segments' texts joined.
std::string JoinSegments(const std::vector<TextSegment>& segments);

}  // namespace ggrt

#endif  // GGRT_LOADER_CHAT_TEMPLATE_H_
