#include "runtime/engine.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "base/status_macros.h"
#include "ops/kv_pages.h"

namespace ggrt {

absl::string_view FinishReasonName(FinishReason r) {
  switch (r) {
    case FinishReason::kNone: return "none";
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
  }
  return "?";
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(Executor& executor, EngineOptions options) {
  RET_CHECK(options.max_batch >= 1 && options.max_batch <= kMaxBatch, "a batch of ", options.max_batch,
            " sequences (1..", kMaxBatch, ")");
  RET_CHECK(options.prefill_budget >= 1 && options.prefill_chunk >= 1, "a prefill budget of ",
            options.prefill_budget, " tokens per step in chunks of ", options.prefill_chunk);
  return std::unique_ptr<Engine>(new Engine(executor, std::move(options)));
}

int Engine::PagesFor(const Sequence& s) const {
  // Every prompt token and every generated token but the last enters the KV cache, and the padding of the
  // prompt's last chunk in a batched prefill is written there too; all within the context.
  const int last_start = (s.prompt_size - 1) / options_.prefill_chunk * options_.prefill_chunk;
  const int64_t padded_end = last_start + BatchedPrefillSpan(s.prompt_size - last_start);
  const int64_t positions = std::min<int64_t>(
      std::max<int64_t>(static_cast<int64_t>(s.prompt_size) + s.options.max_new_tokens - 1, padded_end),
      executor_.ctx_size());
  return static_cast<int>(KvPages(positions));
}

absl::StatusOr<int64_t> Engine::Add(std::vector<int32_t> prompt, const SequenceOptions& options) {
  if (prompt.empty()) return absl::InvalidArgumentError("the prompt is empty");
  if (static_cast<int64_t>(prompt.size()) >= executor_.ctx_size()) {
    return absl::OutOfRangeError(absl::StrCat("the prompt is ", prompt.size(),
                                              " tokens long, which leaves no room to generate in the context of ",
                                              executor_.ctx_size(), " tokens"));
  }
  if (options.max_new_tokens < 1) {
    return absl::InvalidArgumentError(absl::StrCat("max_new_tokens is ", options.max_new_tokens, "; it must be >= 1"));
  }
  if (executor_.greedy() && !options.sampler.greedy()) {
    return absl::FailedPreconditionError(
        "the executor's graphs pick tokens greedily on the device; load the model without greedy graphs to sample");
  }
  auto s = std::make_unique<Sequence>();
  s->id = next_id_++;
  s->prompt_size = static_cast<int>(prompt.size());
  s->tokens = std::move(prompt);
  s->options = options;
  if (PagesFor(*s) > pool_.total_pages()) {
    return absl::ResourceExhaustedError(absl::StrCat("the sequence needs ", PagesFor(*s), " KV pages; the pool has ",
                                                     pool_.total_pages()));
  }
  s->sampler = std::make_unique<Sampler>(options.sampler);
  for (int32_t t : s->tokens) s->sampler->Accept(t);
  const int64_t id = s->id;
  waiting_.push_back(std::move(s));
  return id;
}

absl::Status Engine::Cancel(int64_t id) {
  for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
    if ((*it)->id == id) {
      waiting_.erase(it);
      return absl::OkStatus();
    }
  }
  for (auto it = running_.begin(); it != running_.end(); ++it) {
    if ((*it)->id == id) {
      Release(**it);
      running_.erase(it);
      return absl::OkStatus();
    }
  }
  return absl::NotFoundError(absl::StrCat("no sequence ", id));
}

void Engine::Release(Sequence& s) {
  pool_.Return(s.pages);
  s.pages.clear();
}

bool Engine::CanAdmit() const {
  return !waiting_.empty() && static_cast<int>(running_.size()) < options_.max_batch &&
         PagesFor(*waiting_.front()) <= pool_.free_pages();
}

void Engine::Admit() {
  // In order of arrival: a sequence that does not fit holds back the ones behind it, so none starves.
  while (CanAdmit()) {
    Sequence& s = *waiting_.front();
    auto pages = pool_.Take(PagesFor(s));
    if (!pages.ok()) break;  // Not reached: CanAdmit saw the pages free.
    s.pages = *std::move(pages);
    running_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
}

void Engine::Accept(Sequence& s, int32_t token, absl::Span<const float> logits, std::vector<SequenceEvent>* events) {
  if (token < 0) token = s.sampler->Sample(logits);
  s.sampler->Accept(token);
  s.tokens.push_back(token);
  SequenceEvent e{s.id, token, FinishReason::kNone};
  // The new token would be fed at position tokens.size() - 1.
  if (s.options.stop_at_end_of_generation && options_.end_of_generation && options_.end_of_generation(token)) {
    e.finish = FinishReason::kStop;
  } else if (s.generated() >= s.options.max_new_tokens ||
             static_cast<int64_t>(s.tokens.size()) - 1 >= executor_.ctx_size()) {
    e.finish = FinishReason::kLength;
  }
  if (e.finish != FinishReason::kNone) Release(s);
  events->push_back(e);
}

int Engine::BatchedPrefillSpan(int chunk) const {
  // Whole 64-row spans (a handful of graphs per budget), and no wider than a chunk.
  constexpr int kSpanQuantum = 64;
  return std::min((chunk + kSpanQuantum - 1) / kSpanQuantum * kSpanQuantum, std::max(chunk, options_.prefill_chunk));
}

bool Engine::PaddingFits(const Sequence& s, int span) const {
  // The padding rows write the positions after the chunk: they must be the sequence's, and in the context.
  const int64_t end = static_cast<int64_t>(s.prefilled) + span;
  return end <= executor_.ctx_size() && end <= static_cast<int64_t>(s.pages.size()) * kKvPageSize;
}

bool Engine::NextStepContinues(const std::vector<Sequence*>& decoding) const {
  // Every running sequence decodes now, none reaches its budget or the context with this token, and no
  // waiting one could be admitted: the next step is these rows again unless one stops at an end token or
  // is cancelled.
  if (!options_.run_ahead || decoding.size() != running_.size()) return false;
  for (const Sequence* s : decoding) {
    if (s->generated() + 1 >= s->options.max_new_tokens || static_cast<int64_t>(s->tokens.size()) >= executor_.ctx_size()) {
      return false;
    }
  }
  return !CanAdmit();
}

absl::Status Engine::Prefill(std::vector<SequenceEvent>* events) {
  // Prompt chunks of the new sequences in order of admission, within the step's budget (at least one).
  std::vector<Sequence*> prefilling;
  std::vector<int> sizes;
  int budget = options_.prefill_budget;
  for (auto& s : running_) {
    const int remaining = s->prompt_size - s->prefilled;
    if (remaining == 0) continue;
    const int n = std::min(remaining, options_.prefill_chunk);
    if (n > budget && !prefilling.empty()) break;  // Later prompts wait for the next step.
    prefilling.push_back(s.get());
    sizes.push_back(n);
    budget = std::max(0, budget - n);
  }
  // Consecutive chunks run together where their padded rows fit the budget and the sequences' pages; a
  // chunk that cannot be padded (one token, or too near its pages' end) runs alone at its exact length. A
  // finished prompt yields its first token. The rows of one batched prefill: the budget, within what an
  // executor takes (Executor::PrefillBatch).
  const int64_t max_rows =
      std::min<int64_t>(options_.prefill_budget, std::max<int64_t>(executor_.ctx_size(), kMaxPrefillRows));
  for (size_t i = 0; i < prefilling.size();) {
    size_t end = i + 1;
    int span = BatchedPrefillSpan(sizes[i]);
    const bool padded = sizes[i] >= 2 && PaddingFits(*prefilling[i], span);
    while (padded && end < prefilling.size()) {
      const int wider = std::max(span, BatchedPrefillSpan(sizes[end]));
      bool fits = static_cast<int64_t>(wider) * static_cast<int64_t>(end - i + 1) <= max_rows;
      for (size_t j = i; j <= end && fits; ++j) fits = sizes[j] >= 2 && PaddingFits(*prefilling[j], wider);
      if (!fits) break;
      span = wider;
      ++end;
    }
    const SteadyTime t0 = SteadyNow();
    std::vector<StepOutput> outputs;
    if (!padded) {
      Sequence& s = *prefilling[i];
      ASSIGN_OR_RETURN(StepOutput out,
                       executor_.PrefillSequence(absl::MakeConstSpan(s.tokens).subspan(s.prefilled, sizes[i]),
                                                 s.prefilled, s.pages));
      outputs.push_back(out);
    } else {
      std::vector<PrefillChunk> chunks;
      for (size_t j = i; j < end; ++j) {
        const Sequence& s = *prefilling[j];
        chunks.push_back({absl::MakeConstSpan(s.tokens).subspan(s.prefilled, sizes[j]), s.prefilled, s.pages});
      }
      ASSIGN_OR_RETURN(BatchOutput out, executor_.PrefillBatch(chunks, span));
      for (size_t j = 0; j < chunks.size(); ++j) outputs.push_back(out.Row(chunks.size(), j));
    }
    counters_.prefill_runs++;
    counters_.prefill_nanos += NanosSince(t0);
    for (size_t j = i; j < end; ++j) {
      Sequence& s = *prefilling[j];
      s.prefilled += sizes[j];
      counters_.prefill_chunks++;
      counters_.prefill_tokens += sizes[j];
      if (s.prompt_done()) Accept(s, outputs[j - i].token, outputs[j - i].logits, events);
    }
    i = end;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SequenceEvent>> Engine::Step(const EventSink& first_tokens) {
  Admit();
  std::vector<SequenceEvent> events;
  auto finished = [](const Sequence& s) { return s.pages.empty(); };

  RETURN_IF_ERROR(Prefill(&events));
  if (first_tokens && !events.empty()) {
    first_tokens(events);
    events.clear();
  }

  // One decode step over every sequence with a token to feed.
  std::vector<Sequence*> decoding;
  std::vector<SequenceStep> rows;
  for (auto& s : running_) {
    if (finished(*s) || !s->prompt_done()) continue;
    decoding.push_back(s.get());
    const size_t recent = std::min<size_t>(s->tokens.size(), static_cast<size_t>(kMaxRecentTokens));
    rows.push_back({s->tokens.back(), static_cast<int>(s->tokens.size()) - 1, s->pages, &s->options.sampler,
                    absl::MakeConstSpan(s->tokens).subspan(s->tokens.size() - recent)});
  }
  if (!rows.empty()) {
    const SteadyTime t0 = SteadyNow();
    const bool ahead = NextStepContinues(decoding);
    ASSIGN_OR_RETURN(BatchOutput out, executor_.DecodeBatch(rows, ahead));
    counters_.decode_steps++;
    counters_.decode_steps_ahead += ahead;
    counters_.decode_rows += static_cast<int64_t>(rows.size());
    counters_.decode_nanos += NanosSince(t0);
    for (size_t r = 0; r < decoding.size(); ++r) {
      const StepOutput row = out.Row(rows.size(), r);
      Accept(*decoding[r], row.token, row.logits, &events);
    }
  }
  running_.erase(std::remove_if(running_.begin(), running_.end(), [&](const auto& s) { return finished(*s); }),
                 running_.end());
  return events;
}

}  // namespace ggrt
