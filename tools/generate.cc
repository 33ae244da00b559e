// Generates text from a GGUF model. stdout carries exactly the prompt followed by the generated text,
// streamed token by token; timings go to stderr. Flags follow llama.cpp's where they overlap.
#include <cstdio>
#include <limits>
#include <string>

#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/quote.h"
#include "base/status_macros.h"
#include "loader/chat_template.h"
#include "runtime/model.h"
#include "runtime/session.h"
#include "tools/flags.h"

namespace ggrt {
namespace {

constexpr char kUsage[] = R"(usage: generate -m MODEL.gguf [options]
  -m, --model FILE          GGUF model (llama, qwen2, qwen3, phi3, gemma2)
  -p, --prompt TEXT         prompt (default: empty, i.e. BOS only); plain text: control-token texts in it
                            stay text unless --special
  --prompt-ids 1,2,3        the prompt as token ids (no tokenizer, no BOS added)
  -n, --n-predict N         tokens to generate (default 128; -1 = until end of generation)
  --ignore-eos              keep generating past end-of-generation tokens
  --logits-out FILE         write the logits each token is picked from: "GGRTLGTS", u32 vocabulary size,
                            then one f32 row per generated token (runs the graphs that return logits)
  --temp T                  temperature (default 0.8; 0 = greedy)
  --top-k K --top-p P --min-p P --repeat-penalty R --seed S
  --chat                    wrap the prompt in the model's chat template
  --special                 parse control-token texts (e.g. <|im_start|>) in the prompt as those tokens
  --ctx-size N              KV-cache size in tokens (default: the model's, at most 32768, capped to memory)
  --cache-type f16|f32      KV-cache element type (default f16; llama.cpp's -ctk/-ctv accepted, equal)
  --backend cpu|cuda|auto   (default auto: CUDA when a GPU is present)
  --no-fuse                 run the unfused graph (no passes)
  --disable-passes a,b      run the default pipeline without these passes
  --passes a,b              run exactly these passes
  --no-cuda-graph           launch the decode step's kernels directly instead of replaying a CUDA Graph
)";

absl::Status Main(int argc, char** argv) {
  Flags flags;
  RETURN_IF_ERROR(flags.Parse(argc, argv,
                              WithCacheTypeFlags({{{"-m", "--model"}}, {{"-p", "--prompt"}}, {{"-n", "--n-predict"}}, {{"--temp"}},
                               {{"--top-k"}}, {{"--top-p"}}, {{"--min-p"}}, {{"--repeat-penalty"}}, {{"--seed"}},
                               {{"--chat"}, false}, {{"--special"}, false}, {{"--ctx-size"}}, {{"--backend"}}, {{"--no-fuse"}, false},
                               {{"--disable-passes"}}, {{"--passes"}}, {{"--no-cuda-graph"}, false},
                               {{"--prompt-ids"}}, {{"--ignore-eos"}, false}, {{"--logits-out"}},
                               {{"-h", "--help"}, false}})));
  if (flags.Has("--help") || !flags.Has("--model")) {
    std::fputs(kUsage, flags.Has("--help") ? stdout : stderr);
    return flags.Has("--help") ? absl::OkStatus() : absl::InvalidArgumentError("--model is required");
  }
  GenerateOptions gen;
  SamplerOptions& s = gen.sampler;
  RETURN_IF_ERROR(flags.GetInt("--n-predict", &gen.n_predict, -1, std::numeric_limits<int>::max()));
  RETURN_IF_ERROR(flags.GetFloat("--temp", &s.temperature, 0.0f, 1e4f));
  RETURN_IF_ERROR(flags.GetInt("--top-k", &s.top_k, 0, std::numeric_limits<int>::max()));
  RETURN_IF_ERROR(flags.GetFloat("--top-p", &s.top_p, 0.0f, 1.0f));
  RETURN_IF_ERROR(flags.GetFloat("--min-p", &s.min_p, 0.0f, 1.0f));
  RETURN_IF_ERROR(flags.GetFloat("--repeat-penalty", &s.repeat_penalty, 0.0f, 1e4f, /*lo_open=*/true));
  RETURN_IF_ERROR(flags.GetU64("--seed", &s.seed));

  ModelOptions options{.path = flags.Get("--model")};
  ASSIGN_OR_RETURN(options.backend, BackendFromName(flags.Get("--backend", "auto")));
  RETURN_IF_ERROR(flags.GetInt("--ctx-size", &options.ctx_size, 0, kMaxContext));
  ASSIGN_OR_RETURN(options.passes, PassSelectionFromFlags(flags.Has("--no-fuse"), flags.GetOptional("--passes"),
                                                          flags.GetOptional("--disable-passes")));
  gen.stop_at_end_of_generation = !flags.Has("--ignore-eos");
  RET_CHECK(!(flags.Has("--prompt") && flags.Has("--prompt-ids")), "--prompt and --prompt-ids exclude each other");
  RET_CHECK(!(flags.Has("--chat") && flags.Has("--prompt-ids")), "--chat needs a text --prompt, not --prompt-ids");
  // Logits leave the executor only from graphs that do not pick the token themselves.
  options.greedy = s.greedy() && !flags.Has("--logits-out");
  options.sampler = s;
  options.cuda_graph = !flags.Has("--no-cuda-graph");
  ASSIGN_OR_RETURN(options.kv_type, CacheTypeFromFlags(flags));
  ASSIGN_OR_RETURN(LoadedModel model, LoadModel(options));
  if (!model.note.empty()) std::fprintf(stderr, "note: %s\n", model.note.c_str());
  if (!model.tokenizer->warning().empty()) {
    std::fprintf(stderr, "warning: %s\n", model.tokenizer->warning().c_str());
  }

  const std::string prompt = flags.Get("--prompt");
  const bool special = flags.Has("--special");
  std::vector<TextSegment> segments = {{prompt, special}};
  if (flags.Has("--chat")) {
    ASSIGN_OR_RETURN(ChatTemplate t, DetectChatTemplate(*model.file, *model.tokenizer));
    if (!t.warning.empty()) std::fprintf(stderr, "warning: %s\n", t.warning.c_str());
    segments = ApplyChatTemplate(t, {{"user", prompt}}, true, special);
  }
  std::vector<int32_t> ids;
  if (flags.Has("--prompt-ids")) {
    for (absl::string_view item : absl::StrSplit(flags.Get("--prompt-ids"), ',', absl::SkipWhitespace())) {
      int32_t id;
      if (!absl::SimpleAtoi(item, &id) || id < 0 || id >= model.tokenizer->n_vocab()) {
        return absl::InvalidArgumentError(absl::StrCat("--prompt-ids: ", Quote(item),
                                                       " is not a token id below the vocabulary size ",
                                                       model.tokenizer->n_vocab()));
      }
      ids.push_back(id);
    }
  } else {
    ASSIGN_OR_RETURN(ids, model.tokenizer->Encode(segments, model.tokenizer->add_bos()));
  }
  // An empty prompt on a vocabulary that adds no BOS (Qwen2.5) starts from its BOS id all the same, as
  // llama.cpp does.
  if (ids.empty() && model.tokenizer->bos_id() >= 0) ids.push_back(model.tokenizer->bos_id());

  std::unique_ptr<std::FILE, int (*)(std::FILE*)> logits_out(nullptr, &std::fclose);
  if (flags.Has("--logits-out")) {
    const std::string path = flags.Get("--logits-out");
    logits_out.reset(std::fopen(path.c_str(), "wb"));
    RET_CHECK(logits_out != nullptr, "--logits-out: cannot write ", Quote(path));
    const uint32_t vocab = static_cast<uint32_t>(model.config.n_vocab);
    std::fwrite("GGRTLGTS", 1, 8, logits_out.get());
    std::fwrite(&vocab, sizeof(vocab), 1, logits_out.get());
    gen.on_logits = [&](absl::Span<const float> logits) {
      std::fwrite(logits.data(), sizeof(float), logits.size(), logits_out.get());
    };
  }
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  std::fflush(stdout);
  // After a printed prompt the first piece keeps its leading space.
  TokenStreamDecoder decoder(*model.tokenizer, /*at_start=*/prompt.empty());
  GenerateStats stats;
  RETURN_IF_ERROR(Generate(*model.executor, *model.tokenizer, ids, gen,
                           [&](int32_t token) {
                             const std::string piece = decoder.Push(token);
                             std::fwrite(piece.data(), 1, piece.size(), stdout);
                             std::fflush(stdout);
                           },
                           &stats));
  if (logits_out != nullptr) {
    RET_CHECK(std::fflush(logits_out.get()) == 0 && !std::ferror(logits_out.get()), "--logits-out: write failed");
  }
  const std::string rest = decoder.Flush();
  std::fwrite(rest.data(), 1, rest.size(), stdout);
  std::fputc('\n', stdout);  // The output ends as a text file does.
  std::fflush(stdout);
  std::fprintf(stderr,
               "\n[%s] prompt: %d tokens in %.1f ms (%.1f tok/s) | generated: %d tokens in %.1f ms (%.1f tok/s)\n",
               std::string(model.executor->name()).c_str(), stats.prompt_tokens, 1e3 * stats.prefill_seconds,
               stats.prompt_tokens / std::max(stats.prefill_seconds, 1e-9), stats.generated_tokens,
               1e3 * stats.decode_seconds, stats.generated_tokens / std::max(stats.decode_seconds, 1e-9));
  return absl::OkStatus();
}

}  // namespace
}  // namespace ggrt

int main(int argc, char** argv) { return ggrt::RunTool(ggrt::Main, argc, argv); }
