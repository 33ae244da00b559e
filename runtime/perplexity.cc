#include "runtime/perplexity.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/file.h"
#include "base/memory.h"
#include "base/quote.h"
#include "base/status_macros.h"

namespace ggrt {
namespace {

constexpr char kMagic[8] = {'G', 'G', 'R', 'T', 'L', 'O', 'G', 'P'};
constexpr uint32_t kVersion = 1;

// Mean and llama.cpp's uncertainty of the mean: sqrt(variance / (n - 1)).
std::pair<double, double> MeanAndError(double sum, double sum_sq, int64_t n) {
  if (n == 0) return {0, 0};
  const double mean = sum / n;
  const double var = std::max(sum_sq / n - mean * mean, 0.0);
  return {mean, n > 1 ? std::sqrt(var / (n - 1)) : 0.0};
}

// Log-softmax of `logits` into `out`, in double sums as llama.cpp does.
void LogSoftmax(absl::Span<const float> logits, std::vector<double>* out) {
  const float max = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float l : logits) sum += std::exp(static_cast<double>(l) - max);
  const double log_sum = std::log(sum);
  out->resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) (*out)[i] = static_cast<double>(logits[i]) - max - log_sum;
}

size_t ArgMax(const std::vector<double>& v) { return std::max_element(v.begin(), v.end()) - v.begin(); }

// A failed write of `path`, with the system's reason (fwrite and fclose leave errno set).
absl::Status WriteError(const std::string& path) {
  return absl::DataLossError(absl::StrCat("cannot write ", Quote(path), ": ", std::strerror(errno)));
}

}  // namespace

double NllStats::Ppl() const { return std::exp(count > 0 ? sum / count : 0.0); }

double NllStats::PplError() const { return Ppl() * MeanAndError(sum, sum_sq, count).second; }

absl::StatusOr<std::unique_ptr<LogProbWriter>> LogProbWriter::Create(const std::string& path, int n_ctx,
                                                                     int n_vocab, const std::vector<int32_t>& tokens) {
  FILE* out = std::fopen(path.c_str(), "wb");
  if (out == nullptr) {
    return absl::NotFoundError(absl::StrCat("cannot create ", Quote(path), ": ", std::strerror(errno)));
  }
  std::unique_ptr<LogProbWriter> w(new LogProbWriter(path, out));
  const uint32_t header[3] = {kVersion, static_cast<uint32_t>(n_ctx), static_cast<uint32_t>(n_vocab)};
  const uint64_t n_tokens = tokens.size();
  const bool ok = std::fwrite(kMagic, 1, 8, out) == 8 && std::fwrite(header, 4, 3, out) == 3 &&
                  std::fwrite(&n_tokens, 8, 1, out) == 1 &&
                  std::fwrite(tokens.data(), 4, tokens.size(), out) == tokens.size();
  if (!ok) return WriteError(path);
  return w;
}

LogProbWriter::~LogProbWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

absl::Status LogProbWriter::Append(const std::vector<double>& log_probs) {
  row_.assign(log_probs.begin(), log_probs.end());
  if (std::fwrite(row_.data(), 4, row_.size(), file_) != row_.size()) {
    return WriteError(path_);
  }
  return absl::OkStatus();
}

absl::Status LogProbWriter::Close() {
  const bool ok = std::fclose(file_) == 0;
  file_ = nullptr;
  if (!ok) return WriteError(path_);
  return absl::OkStatus();
}

absl::StatusOr<LogProbFile> ReadLogProbFile(const std::string& path) {
  ASSIGN_OR_RETURN(RegularFile file, RegularFile::Open(path, "KL-divergence base"));
  RETURN_IF_ERROR(CheckFits(absl::StrCat("the KL-divergence base ", Quote(path)), static_cast<int64_t>(file.size()),
                            HostMemoryAvailable(), "of host memory"));
  ASSIGN_OR_RETURN(const std::string bytes, ReadRegularFile(path, file.size(), "KL-divergence base"));
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(Quote(path), ": not a ggrt KL-divergence base (", what,
                                                   "); write one with --kl-divergence-base"));
  };
  constexpr size_t kHeader = 8 + 12 + 8;
  if (bytes.size() < kHeader || std::memcmp(bytes.data(), kMagic, 8) != 0) return bad("bad magic");
  uint32_t header[3];
  uint64_t n_tokens;
  std::memcpy(header, bytes.data() + 8, 12);
  std::memcpy(&n_tokens, bytes.data() + 20, 8);
  if (header[0] != kVersion) return bad(absl::StrCat("version ", header[0]));
  LogProbFile f;
  f.n_ctx = static_cast<int>(header[1]);
  f.n_vocab = static_cast<int>(header[2]);
  if (f.n_ctx < 2 || f.n_vocab < 1 || n_tokens > (bytes.size() - kHeader) / 4) return bad("sizes");
  const uint64_t rest = bytes.size() - kHeader - 4 * n_tokens;
  if (rest % (4 * static_cast<uint64_t>(f.n_vocab)) != 0) return bad("a partial row of log-probabilities");
  f.tokens.resize(n_tokens);
  std::memcpy(f.tokens.data(), bytes.data() + kHeader, 4 * n_tokens);
  f.log_probs.resize(rest / 4);
  std::memcpy(f.log_probs.data(), bytes.data() + kHeader + 4 * n_tokens, rest);
  return f;
}

absl::StatusOr<PerplexityResult> ComputePerplexity(Executor& executor, const std::vector<int32_t>& tokens,
                                                   const PerplexityOptions& o, const LogProbFile* base,
                                                   LogProbWriter* save, const std::function<void(const PerplexityResult&)>& on_chunk) {
  RET_CHECK(o.n_ctx >= 2 && o.n_ctx <= executor.ctx_size(), "the chunk size ", o.n_ctx,
            " must be from 2 to the context size ", executor.ctx_size());
  const int n_batch = std::min(o.n_batch, o.n_ctx);
  RET_CHECK(n_batch >= 1, "the batch size must be positive");
  int64_t n_chunks = static_cast<int64_t>(tokens.size()) / o.n_ctx;
  if (o.max_chunks >= 0) n_chunks = std::min<int64_t>(n_chunks, o.max_chunks);
  if (n_chunks < 1) {
    return absl::InvalidArgumentError(absl::StrCat("the text has ", tokens.size(), " tokens; a chunk needs ",
                                                   o.n_ctx, " (use a longer text or a smaller -c)"));
  }
  const int first = o.n_ctx / 2;
  const int scored_per_chunk = o.n_ctx - 1 - first;
  PerplexityResult r;
  if (base != nullptr) {
    RET_CHECK(base->n_ctx == o.n_ctx, "the KL-divergence base was computed with -c ", base->n_ctx, ", not ", o.n_ctx);
    RET_CHECK(base->tokens == tokens, "the KL-divergence base was computed on other tokens (another text or vocabulary)");
    RET_CHECK(static_cast<int64_t>(base->log_probs.size()) >= n_chunks * scored_per_chunk * base->n_vocab,
              "the KL-divergence base holds fewer chunks than this run scores");
  }
  std::vector<int32_t> chunk(o.n_ctx);
  std::vector<double> log_probs, base_row;
  int64_t base_offset = 0;
  for (int64_t c = 0; c < n_chunks; ++c) {
    std::copy(tokens.begin() + c * o.n_ctx, tokens.begin() + (c + 1) * o.n_ctx, chunk.begin());
    if (o.bos_id >= 0) chunk[0] = o.bos_id;
    for (int start = 0; start < o.n_ctx; start += n_batch) {
      const int len = std::min(n_batch, o.n_ctx - start);
      ASSIGN_OR_RETURN(const StepOutput out,
                       executor.Prefill(absl::MakeConstSpan(chunk.data() + start, len), start));
      RET_CHECK(!out.logits.empty() && out.logits.size() % len == 0,
                "the executor did not return the logits of every position");
      const int n_vocab = static_cast<int>(out.logits.size() / len);
      if (base != nullptr) {
        RET_CHECK(base->n_vocab == n_vocab, "the KL-divergence base has ", base->n_vocab, " logits a token, this model ",
                  n_vocab);
      }
      for (int j = std::max(start, first); j < std::min(start + len, o.n_ctx - 1); ++j) {
        LogSoftmax(out.logits.subspan(static_cast<size_t>(j - start) * n_vocab, n_vocab), &log_probs);
        const int32_t next = tokens[c * o.n_ctx + j + 1];
        const double nll = -log_probs[next];
        r.nll.Add(nll);
        if (save != nullptr) RETURN_IF_ERROR(save->Append(log_probs));
        if (base != nullptr) {
          const float* b = base->log_probs.data() + base_offset;
          base_offset += n_vocab;
          KlStats& k = r.kl;
          double kld = 0;
          size_t base_top = 0;
          for (int v = 0; v < n_vocab; ++v) {
            kld += std::exp(static_cast<double>(b[v])) * (b[v] - log_probs[v]);
            if (b[v] > b[base_top]) base_top = v;
          }
          const double base_nll = -static_cast<double>(b[next]);
          k.q.Add(nll);
          k.base.Add(base_nll);
          k.sum_diff += nll - base_nll;
          k.sum_diff_sq += (nll - base_nll) * (nll - base_nll);
          k.sum_kld += kld;
          k.sum_kld_sq += kld * kld;
          k.max_kld = std::max(k.max_kld, kld);
          const double dp = std::exp(-nll) - std::exp(-base_nll);
          k.sum_dp_sq += dp * dp;
          k.sum_dp_4 += dp * dp * dp * dp;
          k.same_top += ArgMax(log_probs) == base_top;
          ++k.count;
        }
      }
    }
    r.chunk_ppl.push_back(r.nll.Ppl());
    if (on_chunk) on_chunk(r);
  }
  return r;
}

std::string FormatKlStats(const KlStats& k) {
  const int64_t n = k.count;
  const auto [q_mean, q_err] = MeanAndError(k.q.sum, k.q.sum_sq, n);
  const auto [b_mean, b_err] = MeanAndError(k.base.sum, k.base.sum_sq, n);
  const auto [d_mean, d_err] = MeanAndError(k.sum_diff, k.sum_diff_sq, n);
  const double ppl_q = std::exp(q_mean), ppl_b = std::exp(b_mean);
  // Var(a - b) = Var(a) + Var(b) - 2 Cov(a, b): the covariance of the two mean NLLs follows from the
  // uncertainty of their difference.
  const double cov = (q_err * q_err + b_err * b_err - d_err * d_err) / 2;
  const double diff_err = std::sqrt(std::max(
      ppl_q * ppl_q * q_err * q_err + ppl_b * ppl_b * b_err * b_err - 2 * ppl_q * ppl_b * cov, 0.0));
  const auto [kld_mean, kld_err] = MeanAndError(k.sum_kld, k.sum_kld_sq, n);
  const auto [dp2_mean, dp2_err] = MeanAndError(k.sum_dp_sq, k.sum_dp_4, n);
  const double dp_rms = std::sqrt(dp2_mean);
  const double dp_rms_err = dp_rms > 0 ? dp2_err / (2 * dp_rms) : 0;
  const double same = n > 0 ? static_cast<double>(k.same_top) / n : 0;
  const double same_err = n > 1 ? std::sqrt(same * (1 - same) / (n - 1)) : 0;
  std::string s;
  absl::StrAppendFormat(&s, "Mean PPL(Q)                   : %10.6f ± %10.6f\n", ppl_q, ppl_q * q_err);
  absl::StrAppendFormat(&s, "Mean PPL(base)                : %10.6f ± %10.6f\n", ppl_b, ppl_b * b_err);
  absl::StrAppendFormat(&s, "Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", d_mean, d_err);
  absl::StrAppendFormat(&s, "Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", std::exp(d_mean),
                        std::exp(d_mean) * d_err);
  absl::StrAppendFormat(&s, "Mean PPL(Q)-PPL(base)         : %10.6f ± %10.6f\n", ppl_q - ppl_b, diff_err);
  absl::StrAppendFormat(&s, "Mean    KLD: %10.6f ± %10.6f\n", kld_mean, kld_err);
  absl::StrAppendFormat(&s, "Maximum KLD: %10.6f\n", k.max_kld);
  absl::StrAppendFormat(&s, "RMS Δp    : %6.3f ± %5.3f %%\n", 100 * dp_rms, 100 * dp_rms_err);
  absl::StrAppendFormat(&s, "Same top p: %6.3f ± %5.3f %%\n", 100 * same, 100 * same_err);
  return s;
}

}  // namespace ggrt
