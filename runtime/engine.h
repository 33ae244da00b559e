// The batching engine: many sequences share one executor and its KV page pool. Each step admits waiting
// sequences whose pages the pool can give, prefills a chunk of each new prompt, and runs one batched decode
// step over every sequence that is generating; tokens come back per sequence as they are made. A finished
// or cancelled sequence's pages return to the pool at once.
//
// A sequence reserves the pages of its prompt plus its token budget when admitted (so a running sequence
// never waits for memory; at least those its prompt's padded last chunk writes); when the pool cannot give
// them, it waits in order of arrival. Tokens are picked on the host from each row's logits with the
// sequence's own sampler, or on the device when the executor's graphs end in argmax (greedy sequences only).
#ifndef GGRT_RUNTIME_ENGINE_H_
#define GGRT_RUNTIME_ENGINE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/executor.h"
#include "runtime/kv_pool.h"
#include "runtime/sampler.h"

namespace ggrt {

struct SequenceOptions {
  int max_new_tokens = 128;
  SamplerOptions sampler{.temperature = 0.0f};  // Greedy unless asked otherwise.
  bool stop_at_end_of_generation = true;
};

enum class FinishReason { kNone, kStop, kLength, kCancelled };
absl::string_view FinishReasonName(FinishReason r);  // "stop", "length", "cancelled"

// What a step did for one sequence: a new token (-1 when none) and, on its last event, why it finished.
struct SequenceEvent {
  int64_t id = 0;
  int32_t token = -1;
  FinishReason finish = FinishReason::kNone;
};

struct EngineOptions {
  int max_batch = 64;        // Sequences generating at once (1..kMaxBatch).
  // A prompt is prefilled in chunks of prefill_chunk tokens from its start, whatever else runs, so that its
  // KV cache (and so its tokens) does not depend on the other sequences. A step prefills whole chunks while
  // they fit in prefill_budget tokens, and always at least one; chunks of several sequences run as one
  // batched prefill (Executor::PrefillBatch) when their rows, padded to a common span, fit the budget too.
  int prefill_chunk = 512;
  int prefill_budget = 512;
  std::function<bool(int32_t)> end_of_generation;  // Optional: tokens that stop a sequence.
  // Let the executor start the next decode step before the host has read this one's tokens, when the next
  // step is known to decode the same sequences (Executor::DecodeBatch). Changes no token.
  bool run_ahead = true;
};

// Where the engine's steps went, for /metrics: prompt chunks and decode steps, with their wall time on the
// host (each waits for its results, so this is the device's time plus what the host adds).
struct EngineCounters {
  int64_t prefill_runs = 0, prefill_chunks = 0, prefill_tokens = 0, prefill_nanos = 0;
  int64_t decode_steps = 0, decode_rows = 0, decode_nanos = 0;
  int64_t decode_steps_ahead = 0;  // Steps that let the executor start the next one (EngineOptions::run_ahead).
};

class Engine {
 public:
  // `executor` must outlive the engine, and the engine must be its only user (it owns the executor's pool).
  static absl::StatusOr<std::unique_ptr<Engine>> Create(Executor& executor, EngineOptions options);

  // Queues a sequence; its id. Errors name what cannot be served: an empty prompt, one that leaves no room
  // to generate in the context, a budget below 1, sampling on an executor that only picks greedily, or a
  // sequence larger than the whole pool.
  absl::StatusOr<int64_t> Add(std::vector<int32_t> prompt, const SequenceOptions& options);
  // Ends a sequence now (waiting or running): its pages return to the pool. NotFound for unknown ids.
  absl::Status Cancel(int64_t id);
  // One step; the events of every sequence that got a token or finished. With `first_tokens` set, the events
  // of the prompts that finish prefilling this step (their first tokens) go to it as soon as the prefill has
  // run, before the step's decode, and the result holds the decode's events alone: a server streams a first
  // token a decode step sooner.
  using EventSink = std::function<void(absl::Span<const SequenceEvent>)>;
  absl::StatusOr<std::vector<SequenceEvent>> Step(const EventSink& first_tokens = nullptr);

  bool idle() const { return running_.empty() && waiting_.empty(); }
  int running() const { return static_cast<int>(running_.size()); }
  int waiting() const { return static_cast<int>(waiting_.size()); }
  const KvPool& pool() const { return pool_; }
  const EngineCounters& counters() const { return counters_; }

 private:
  struct Sequence {
    int64_t id = 0;
    SequenceOptions options;
    std::unique_ptr<Sampler> sampler;
    std::vector<int32_t> pages;   // Its block table.
    // The prompt, then the generated tokens: token i sits at position i. Once the prompt is in the KV cache,
    // every token but the last is too, and the last is the next decode step's input.
    std::vector<int32_t> tokens;
    int prompt_size = 0;
    int prefilled = 0;            // Prompt tokens in the KV cache.
    bool prompt_done() const { return prefilled == prompt_size; }
    int generated() const { return static_cast<int>(tokens.size()) - prompt_size; }
  };

  Engine(Executor& executor, EngineOptions options)
      : executor_(executor), options_(std::move(options)), pool_(executor.kv_pool_pages()) {}
  int PagesFor(const Sequence& s) const;
  // Whether the first waiting sequence fits now (a running slot and the pages of its prompt and budget).
  bool CanAdmit() const;
  void Admit();
  // Picks a token for `s` from one row's output, records it, and reports it (finishing `s` if it is done).
  void Accept(Sequence& s, int32_t token_or_minus_one, absl::Span<const float> logits,
              std::vector<SequenceEvent>* events);
  void Release(Sequence& s);
  // The step's prompt chunks (Step's first part); the events of prompts that finish.
  absl::Status Prefill(std::vector<SequenceEvent>* events);
  // Rows per sequence of a batched prefill whose longest chunk is `chunk` tokens.
  int BatchedPrefillSpan(int chunk) const;
  // Whether `s`'s next chunk may be padded to `span` rows: the positions it writes are its own.
  bool PaddingFits(const Sequence& s, int span) const;
  // Whether the step after this one will decode exactly `decoding` again (the executor may run it ahead).
  bool NextStepContinues(const std::vector<Sequence*>& decoding) const;

  Executor& executor_;
  EngineOptions options_;
  KvPool pool_;
  EngineCounters counters_;
  int64_t next_id_ = 1;
  std::deque<std::unique_ptr<Sequence>> waiting_;
  std::vector<std::unique_ptr<Sequence>> running_;  // In order of admission.
};

}  // namespace ggrt

#endif  // GGRT_RUNTIME_ENGINE_H_
