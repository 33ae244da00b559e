// Perplexity and KL divergence over a token stream, by llama.cpp's llama-perplexity method: the tokens are
// cut into chunks of n_ctx, each chunk is evaluated from an empty cache (its first token replaced by BOS
// when the vocabulary adds one), and the second half of each chunk is scored: the log-probability of every
// token after position n_ctx/2 given the ones before it.
//
// For KL divergence, a base run saves the log-probabilities of every scored position (LogProbFile); a run of
// another model (a quantized one, say) over the same tokens is then compared against them.
#ifndef GGRT_RUNTIME_PERPLEXITY_H_
#define GGRT_RUNTIME_PERPLEXITY_H_

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/executor.h"

namespace ggrt {

struct PerplexityOptions {
  int n_ctx = 512;
  int n_batch = 2048;  // Tokens per executor call within a chunk (at most n_ctx).
  int max_chunks = -1; // < 0: all.
  int32_t bos_id = -1; // >= 0: each chunk's first token becomes BOS (the vocabulary adds one).
};

// Running sums of the scored tokens' negative log-likelihoods.
struct NllStats {
  double sum = 0, sum_sq = 0;
  int64_t count = 0;
  void Add(double nll) { sum += nll, sum_sq += nll * nll, ++count; }
  double Ppl() const;
  // llama.cpp's "+/-": the PPL times the standard error of the mean NLL.
  double PplError() const;
};

// Saved log-probabilities of a base model: [scored positions, n_vocab] f32, with the tokens and n_ctx they
// came from. The file is "GGRTLOGP", version 1, n_ctx, n_vocab (u32), n_tokens (u64), the tokens (i32),
// then the rows.
struct LogProbFile {
  int n_ctx = 0, n_vocab = 0;
  std::vector<int32_t> tokens;
  std::vector<float> log_probs;
};
// Sizes are checked against the file's size and free memory before anything is allocated.
absl::StatusOr<LogProbFile> ReadLogProbFile(const std::string& path);

// Streams a LogProbFile to disk row by row (a large vocabulary's rows do not fit in memory).
class LogProbWriter {
 public:
  static absl::StatusOr<std::unique_ptr<LogProbWriter>> Create(const std::string& path, int n_ctx, int n_vocab,
                                                               const std::vector<int32_t>& tokens);
  ~LogProbWriter();
  absl::Status Append(const std::vector<double>& log_probs);
  absl::Status Close();

 private:
  LogProbWriter(std::string path, FILE* f) : path_(std::move(path)), file_(f) {}
  std::string path_;
  FILE* file_;
  std::vector<float> row_;
};

struct KlStats {
  NllStats q, base;
  double sum_diff = 0, sum_diff_sq = 0;  // NLL(Q) - NLL(base) per token.
  double sum_kld = 0, sum_kld_sq = 0, max_kld = 0;
  double sum_dp_sq = 0, sum_dp_4 = 0;  // Δp = p_Q(token) - p_base(token).
  int64_t same_top = 0, count = 0;
};

struct PerplexityResult {
  NllStats nll;
  std::vector<double> chunk_ppl;  // The running PPL after each chunk, as llama.cpp prints it.
  KlStats kl;                     // Filled when a base is given.
};

// `base`: compare against it (KL divergence); `save`: write the log-probabilities there. `on_chunk`
// (optional) sees the result so far after every chunk.
absl::StatusOr<PerplexityResult> ComputePerplexity(Executor& executor, const std::vector<int32_t>& tokens,
                                                   const PerplexityOptions& options, const LogProbFile* base,
                                                   LogProbWriter* save,
                                                   const std::function<void(const PerplexityResult&)>& on_chunk);

// llama.cpp's closing lines of a --kl-divergence run.
std::string FormatKlStats(const KlStats& kl);

}  // namespace ggrt

#endif  // GGRT_RUNTIME_PERPLEXITY_H_
