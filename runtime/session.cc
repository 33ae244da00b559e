#include "runtime/session.h"

#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "base/status_macros.h"

namespace ggrt {

absl::StatusOr<StepOutput> PrefillInChunks(Executor& executor, absl::Span<const int32_t> tokens, int pos,
                                           int chunk) {
  RET_CHECK(!tokens.empty() && chunk >= 1, "prefill of ", tokens.size(), " tokens in chunks of ", chunk);
  StepOutput out;
  for (size_t at = 0; at < tokens.size(); at += chunk) {
    const absl::Span<const int32_t> part = tokens.subspan(at, chunk);
    const int where = pos + static_cast<int>(at);
    ASSIGN_OR_RETURN(out, part.size() == 1 ? executor.Decode(part[0], where) : executor.Prefill(part, where));
  }
  return out;
}

absl::Status Generate(Executor& executor, const Tokenizer& tokenizer, const std::vector<int32_t>& prompt,
                      const GenerateOptions& options, const std::function<void(int32_t)>& on_token,
                      GenerateStats* stats) {
  RET_CHECK(!prompt.empty(), "the prompt is empty and the vocabulary has no BOS token: nothing to start from");
  const int ctx = executor.ctx_size();
  if (static_cast<int>(prompt.size()) >= ctx) {
    return absl::OutOfRangeError(absl::StrCat(
        "the prompt is ", prompt.size(), " tokens long, which does not fit the context of ", ctx,
        " tokens with room for a generated token (raise --ctx-size above ", prompt.size(), " or shorten the prompt)"));
  }
  Sampler sampler(options.sampler);
  for (int32_t t : prompt) sampler.Accept(t);
  auto pick = [&](const StepOutput& out) -> int32_t {
    if (out.token >= 0) return out.token;
    if (options.on_logits) options.on_logits(out.logits);
    return sampler.Sample(out.logits);
  };

  SteadyTime start = SteadyNow();
  ASSIGN_OR_RETURN(StepOutput out, PrefillInChunks(executor, prompt, 0, options.prefill_chunk));
  int32_t token = pick(out);
  stats->prompt_tokens = static_cast<int>(prompt.size());
  stats->prefill_seconds = SecondsSince(start);

  int pos = static_cast<int>(prompt.size());
  start = SteadyNow();
  for (int n = 0; options.n_predict < 0 || n < options.n_predict; ++n) {
    on_token(token);
    sampler.Accept(token);
    ++stats->generated_tokens;
    if (options.stop_at_end_of_generation && tokenizer.IsEndOfGeneration(token)) break;
    if (n + 1 == options.n_predict || pos >= ctx) break;  // Done, or the context is full.
    ASSIGN_OR_RETURN(out, executor.Decode(token, pos));
    token = pick(out);
    ++pos;
  }
  stats->decode_seconds = SecondsSince(start);
  return absl::OkStatus();
}

}  // namespace ggrt
