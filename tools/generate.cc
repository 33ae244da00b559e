// Generates text from a GGUF model. stdout carries exactly the prompt followed by the generated text,
// streamed token by token; timings go to stderr. Flags follow llama.cpp's where they overlap.
#include <cstdio>
#include <limits>
#include <string>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "loader/chat_template.h"
#include "runtime/model.h"
#include "runtime/session.h"
#include "tools/flags.h"

namespace ggrt {
namespace {

constexpr char kUsage[] = R"(usage: generate -m MODEL.gguf [options]
  -m, --model FILE          GGUF model (llama or qwen2)
  -p, --prompt TEXT         prompt (default: empty, i.e. BOS only); plain text: control-token texts in it
                            stay text unless --special
  -n, --n-predict N         tokens to generate (default 128; -1 = until end of generation)
  --temp T                  temperature (default 0.8; 0 = greedy)
  --top-k K --top-p P --min-p P --repeat-penalty R --seed S
  --chat                    wrap the prompt in the model's chat template
  --special                 parse control-token texts (e.g. <|im_start|>) in the prompt as those tokens
  --ctx-size N              KV-cache size in tokens (default: the model's, at most 32768, capped to memory)
  --backend cpu|cuda|auto   (default auto: CUDA when a GPU is present)
  --no-fuse                 run the unfused graph (no passes)
  --disable-passes a,b      run the default pipeline without these passes
  --passes a,b              run exactly these passes
  --no-cuda-graph           launch the decode step's kernels directly instead of replaying a CUDA Graph
)";

absl::Status Main(int argc, char** argv) {
  Flags flags;
  RETURN_IF_ERROR(flags.Parse(argc, argv,
                              {{{"-m", "--model"}}, {{"-p", "--prompt"}}, {{"-n", "--n-predict"}}, {{"--temp"}},
                               {{"--top-k"}}, {{"--top-p"}}, {{"--min-p"}}, {{"--repeat-penalty"}}, {{"--seed"}},
                               {{"--chat"}, false}, {{"--special"}, false}, {{"--ctx-size"}}, {{"--backend"}}, {{"--no-fuse"}, false},
                               {{"--disable-passes"}}, {{"--passes"}}, {{"--no-cuda-graph"}, false},
                               {{"-h", "--help"}, false}}));
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
  options.greedy = s.greedy();
  options.sampler = s;
  options.cuda_graph = !flags.Has("--no-cuda-graph");
  ASSIGN_OR_RETURN(LoadedModel model, LoadModel(options));
  if (!model.note.empty()) std::fprintf(stderr, "note: %s\n", model.note.c_str());

  const std::string prompt = flags.Get("--prompt");
  const bool special = flags.Has("--special");
  std::vector<TextSegment> segments = {{prompt, special}};
  if (flags.Has("--chat")) {
    ASSIGN_OR_RETURN(ChatTemplate t, DetectChatTemplate(*model.file, *model.tokenizer));
    if (!t.warning.empty()) std::fprintf(stderr, "warning: %s\n", t.warning.c_str());
    segments = ApplyChatTemplate(t, {{"user", prompt}}, true, special);
  }
  ASSIGN_OR_RETURN(std::vector<int32_t> ids, model.tokenizer->Encode(segments, model.tokenizer->add_bos()));
  // An empty prompt on a vocabulary that adds no BOS (Qwen2.5) starts from its BOS id all the same, as
  // llama.cpp does.
  if (ids.empty() && model.tokenizer->bos_id() >= 0) ids.push_back(model.tokenizer->bos_id());

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
