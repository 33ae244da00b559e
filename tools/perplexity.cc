// Perplexity of a model on a text, by llama-perplexity's method and with its output lines, and the KL
// divergence of one model's distributions from another's (e.g. a quantized file against its F16 original).
//   perplexity -m MODEL -f TEXT [-c 512] [-b 2048] [--chunks N] [--backend cpu|cuda|auto]
//   perplexity -m BASE  -f TEXT --kl-divergence-base FILE                 (also saves BASE's log-probs)
//   perplexity -m QUANT --kl-divergence-base FILE --kl-divergence [-f TEXT] (compares against them)
#include <cstdio>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/clock.h"
#include "base/status_macros.h"
#include "runtime/model.h"
#include "runtime/perplexity.h"
#include "tools/flags.h"

namespace ggrt {
namespace {

constexpr char kUsage[] = R"(usage: perplexity -m MODEL.gguf -f TEXT [options]
  -m, --model FILE            GGUF model
  -f, --file FILE             text to score (with --kl-divergence, optional: the base file holds the tokens)
  -c, --ctx-size N            chunk size in tokens (default 512); the second half of each chunk is scored
  -b, --batch-size N          tokens per evaluation within a chunk (default 2048, at most the chunk)
  --chunks N                  score at most N chunks (default: all)
  --backend cpu|cuda|auto     (default auto)
  --cache-type f16|f32        KV-cache element type (default f16, as llama.cpp; -ctk/-ctv accepted)
  --kl-divergence-base FILE   without --kl-divergence: save this model's log-probabilities to FILE
  --kl-divergence             compare this model against the log-probabilities in the base FILE
)";

absl::Status Main(int argc, char** argv) {
  Flags flags;
  RETURN_IF_ERROR(flags.Parse(argc, argv,
                              WithCacheTypeFlags({{{"-m", "--model"}}, {{"-f", "--file"}}, {{"-c", "--ctx-size"}},
                               {{"-b", "--batch-size"}}, {{"--chunks"}}, {{"--backend"}},
                               {{"--kl-divergence-base"}}, {{"--kl-divergence"}, false},
                               {{"-h", "--help"}, false}})));
  if (flags.Has("--help")) {
    std::fputs(kUsage, stdout);
    return absl::OkStatus();
  }
  const bool compare = flags.Has("--kl-divergence");
  if (argc == 1) std::fputs(kUsage, stderr);
  RET_CHECK(flags.Has("--model"), "--model is required (see --help)");
  RET_CHECK(flags.Has("--file") || compare, "--file is required (see --help)");
  RET_CHECK(!compare || flags.Has("--kl-divergence-base"), "--kl-divergence needs --kl-divergence-base FILE");
  PerplexityOptions o;
  RETURN_IF_ERROR(flags.GetInt("--ctx-size", &o.n_ctx, 2, kMaxContext));
  RETURN_IF_ERROR(flags.GetInt("--batch-size", &o.n_batch, 1, kMaxContext));
  RETURN_IF_ERROR(flags.GetInt("--chunks", &o.max_chunks, 0, std::numeric_limits<int>::max()));

  std::optional<LogProbFile> base;
  if (compare) {
    ASSIGN_OR_RETURN(base, ReadLogProbFile(flags.Get("--kl-divergence-base")));
    if (flags.Has("--ctx-size")) {
      RET_CHECK(o.n_ctx == base->n_ctx, "-c ", o.n_ctx, " differs from the base's ", base->n_ctx);
    }
    o.n_ctx = base->n_ctx;
  }

  ModelOptions options{.path = flags.Get("--model"), .ctx_size = o.n_ctx, .all_logits = true};
  ASSIGN_OR_RETURN(options.backend, BackendFromName(flags.Get("--backend", "auto")));
  ASSIGN_OR_RETURN(options.kv_type, CacheTypeFromFlags(flags));
  ASSIGN_OR_RETURN(LoadedModel model, LoadModel(options));
  if (model.tokenizer->add_bos()) o.bos_id = model.tokenizer->bos_id();

  std::vector<int32_t> tokens;
  if (flags.Has("--file")) {
    std::printf("perplexity: tokenizing the input ..\n");
    ASSIGN_OR_RETURN(const std::string text, ReadRegularFile(flags.Get("--file"), uint64_t{1} << 30, "text"));
    const SteadyTime start = SteadyNow();
    ASSIGN_OR_RETURN(tokens, model.tokenizer->Encode(text, {.add_bos = model.tokenizer->add_bos()}));
    std::printf("perplexity: tokenization took %g ms\n", 1e3 * SecondsSince(start));
    if (base) RET_CHECK(tokens == base->tokens, "the text's tokens differ from the KL-divergence base's");
  } else {
    tokens = base->tokens;
  }
  std::unique_ptr<LogProbWriter> writer;
  if (flags.Has("--kl-divergence-base") && !compare) {
    ASSIGN_OR_RETURN(writer, LogProbWriter::Create(flags.Get("--kl-divergence-base"), o.n_ctx, model.config.n_vocab,
                                                   tokens));
  }
  const int64_t chunks = std::min<int64_t>(static_cast<int64_t>(tokens.size()) / o.n_ctx,
                                           o.max_chunks < 0 ? std::numeric_limits<int64_t>::max() : o.max_chunks);
  std::printf("perplexity: calculating perplexity over %ld chunks, n_ctx=%d, batch_size=%d, n_seq=1\n", chunks,
              o.n_ctx, std::min(o.n_batch, o.n_ctx));
  const SteadyTime start = SteadyNow();
  ASSIGN_OR_RETURN(const PerplexityResult r,
                   ComputePerplexity(*model.executor, tokens, o, base ? &*base : nullptr, writer.get(),
                                     [](const PerplexityResult& so_far) {
                                       std::printf("[%zu]%.4f,", so_far.chunk_ppl.size(), so_far.chunk_ppl.back());
                                       std::fflush(stdout);
                                     }));
  if (writer) RETURN_IF_ERROR(writer->Close());
  const double seconds = SecondsSince(start);
  std::printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", r.nll.Ppl(), r.nll.PplError());
  if (compare) std::printf("\n%s", FormatKlStats(r.kl).c_str());
  std::fprintf(stderr, "[%s] %ld chunks of %d tokens in %.2f s (%.1f tokens/s)\n",
               std::string(model.executor->name()).c_str(), chunks, o.n_ctx, seconds, chunks * o.n_ctx / seconds);
  return absl::OkStatus();
}

}  // namespace
}  // namespace ggrt

int main(int argc, char** argv) { return ggrt::RunTool(ggrt::Main, argc, argv); }
