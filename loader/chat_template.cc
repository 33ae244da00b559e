#include "loader/chat_template.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace ggrt {
namespace {

constexpr char kQwenSystem[] = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

}  // namespace

absl::StatusOr<ChatTemplate> DetectChatTemplate(const GgufFile& file, const Tokenizer& tokenizer) {
  if (!file.Has("tokenizer.chat_template")) {
    if (tokenizer.Find("<|im_start|>") >= 0) return ChatTemplate{ChatFormat::kChatMl, ""};
    return absl::NotFoundError(absl::StrCat(file.path(), ": no tokenizer.chat_template and no known chat "
                                            "tokens; --chat needs a chat model"));
  }
  ASSIGN_OR_RETURN(const std::string t, file.GetString("tokenizer.chat_template"));
  if (absl::StrContains(t, "<|im_start|>")) {
    return ChatTemplate{ChatFormat::kChatMl, absl::StrContains(t, kQwenSystem) ? kQwenSystem : ""};
  }
  if (absl::StrContains(t, "<|start_header_id|>")) return ChatTemplate{ChatFormat::kLlama3, ""};
  if (absl::StrContains(t, "[INST]")) return ChatTemplate{ChatFormat::kLlama2, ""};
  return absl::UnimplementedError(absl::StrCat(file.path(), ": unsupported tokenizer.chat_template (known: "
                                               "ChatML, Llama 2 [INST], Llama 3 header tokens)"));
}

std::string ApplyChatTemplate(const ChatTemplate& t, const std::vector<ChatMessage>& messages,
                              bool add_generation_prompt) {
  std::vector<ChatMessage> msgs = messages;
  if (!t.default_system.empty() && (msgs.empty() || msgs[0].role != "system")) {
    msgs.insert(msgs.begin(), {"system", t.default_system});
  }
  std::string out;
  switch (t.format) {
    case ChatFormat::kChatMl:
      for (const ChatMessage& m : msgs) absl::StrAppend(&out, "<|im_start|>", m.role, "\n", m.content, "<|im_end|>\n");
      if (add_generation_prompt) out += "<|im_start|>assistant\n";
      break;
    case ChatFormat::kLlama3:
      out = "<|begin_of_text|>";
      for (const ChatMessage& m : msgs) {
        absl::StrAppend(&out, "<|start_header_id|>", m.role, "<|end_header_id|>\n\n", m.content, "<|eot_id|>");
      }
      if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      break;
    case ChatFormat::kLlama2: {
      // [INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] assistant </s>
      std::string system;
      for (const ChatMessage& m : msgs) {
        if (m.role == "system") {
          system = m.content;
        } else if (m.role == "user") {
          absl::StrAppend(&out, "<s>[INST] ", system.empty() ? "" : absl::StrCat("<<SYS>>\n", system, "\n<</SYS>>\n\n"),
                          m.content, " [/INST]");
          system.clear();
        } else {
          absl::StrAppend(&out, " ", m.content, " </s>");
        }
      }
      break;
    }
  }
  return out;
}

}  // namespace ggrt
