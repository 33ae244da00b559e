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
  if (absl::StrContains(t, "<start_of_turn>")) return ChatTemplate{ChatFormat::kGemma, ""};
  if (absl::StrContains(t, "<|assistant|>") && absl::StrContains(t, "<|end|>")) {
    return ChatTemplate{ChatFormat::kPhi3, ""};
  }
  if (absl::StrContains(t, "[INST]")) {
    return ChatTemplate{absl::StrContains(t, "<<SYS>>") ? ChatFormat::kLlama2 : ChatFormat::kMistral, ""};
  }
  return ChatTemplate{ChatFormat::kRaw, "",
                      absl::StrCat(file.path(), ": unrecognised tokenizer.chat_template (known: ChatML, Llama 2 "
                                   "and Mistral [INST], Llama 3, Phi-3, Gemma); the prompt is used as it is")};
}

std::string JoinSegments(const std::vector<TextSegment>& segments) {
  std::string out;
  for (const TextSegment& s : segments) out += s.text;
  return out;
}

std::vector<TextSegment> ApplyChatTemplate(const ChatTemplate& t, const std::vector<ChatMessage>& messages,
                                           bool add_generation_prompt, bool special_in_content) {
  std::vector<ChatMessage> msgs = messages;
  if (!t.default_system.empty() && (msgs.empty() || msgs[0].role != "system")) {
    msgs.insert(msgs.begin(), {"system", t.default_system});
  }
  std::vector<TextSegment> out;
  // Roles come from the caller's fixed set, but are still text: only the markers are special.
  auto mark = [&](absl::string_view text) { out.push_back({std::string(text), true}); };
  auto text = [&](absl::string_view s) { out.push_back({std::string(s), special_in_content}); };
  auto plain = [&](absl::string_view s) { out.push_back({std::string(s), false}); };
  switch (t.format) {
    case ChatFormat::kChatMl:
      for (const ChatMessage& m : msgs) {
        mark("<|im_start|>");
        plain(absl::StrCat(m.role, "\n"));
        text(m.content);
        mark("<|im_end|>");
        plain("\n");
      }
      if (add_generation_prompt) {
        mark("<|im_start|>");
        plain("assistant\n");
      }
      break;
    case ChatFormat::kLlama3:
      mark("<|begin_of_text|>");
      for (const ChatMessage& m : msgs) {
        mark("<|start_header_id|>");
        plain(m.role);
        mark("<|end_header_id|>");
        plain("\n\n");
        text(m.content);
        mark("<|eot_id|>");
      }
      if (add_generation_prompt) {
        mark("<|start_header_id|>");
        plain("assistant");
        mark("<|end_header_id|>");
        plain("\n\n");
      }
      break;
    case ChatFormat::kPhi3:
      for (const ChatMessage& m : msgs) {
        mark(absl::StrCat("<|", m.role, "|>"));
        plain("\n");
        text(m.content);
        mark("<|end|>");
        plain("\n");
      }
      if (add_generation_prompt) {
        mark("<|assistant|>");
        plain("\n");
      }
      break;
    case ChatFormat::kGemma:
    case ChatFormat::kMistral: {
      // No system role: a system message opens the next user turn, separated by a blank line.
      std::string system;
      for (const ChatMessage& m : msgs) {
        if (m.role == "system") {
          system = m.content;
          continue;
        }
        const bool user = m.role == "user";
        if (t.format == ChatFormat::kGemma) {
          mark("<start_of_turn>");
          plain(user ? "user\n" : "model\n");
        } else {
          plain(user ? "[INST] " : " ");
        }
        if (user && !system.empty()) {
          text(system);
          plain("\n\n");
          system.clear();
        }
        text(m.content);
        if (t.format == ChatFormat::kGemma) {
          mark("<end_of_turn>");
          plain("\n");
        } else if (user) {
          plain(" [/INST]");
        } else {
          mark("</s>");
        }
      }
      if (add_generation_prompt && t.format == ChatFormat::kGemma) {
        mark("<start_of_turn>");
        plain("model\n");
      }
      break;
    }
    case ChatFormat::kRaw:
      for (const ChatMessage& m : msgs) text(m.content);
      break;
    case ChatFormat::kLlama2: {
      // <s>[INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] assistant </s>
      std::string system;
      for (const ChatMessage& m : msgs) {
        if (m.role == "system") {
          system = m.content;
        } else if (m.role == "user") {
          mark("<s>");
          plain("[INST] ");
          if (!system.empty()) {
            plain("<<SYS>>\n");
            text(system);
            plain("\n<</SYS>>\n\n");
          }
          text(m.content);
          plain(" [/INST]");
          system.clear();
        } else {
          plain(" ");
          text(m.content);
          plain(" ");
          mark("</s>");
        }
      }
      break;
    }
  }
  return out;
}

}  // namespace ggrt
