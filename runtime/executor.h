// What a backend offers the generation loop and the batching engine: the prefill graph over a prompt chunk of
// one sequence or of several, and the decode step over one token of each of B sequences, all in the KV page
// pool the executor owns. Which pages a sequence uses is the caller's choice (its block table); the lone-sequence
// calls use a table the executor keeps for that purpose.
#ifndef GGRT_RUNTIME_EXECUTOR_H_
#define GGRT_RUNTIME_EXECUTOR_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "graph/graph.h"
#include "runtime/sampler.h"

namespace ggrt {

// Builds the optimised graph (lowering + pass pipeline) that processes `seq_len` positions of one sequence, or
// (seq_len 1) one position of each of `batch` sequences, or with `spans` (a batched prefill, LowerOptions)
// `seq_len` rows of each of `batch` sequences.
using GraphFactory = std::function<absl::StatusOr<Graph>(int seq_len, int batch, bool spans)>;

// Output of the last position: the token id when the graph samples greedily on its own, else the logits
// (valid until the next call).
struct StepOutput {
  int32_t token = -1;
  absl::Span<const float> logits;
};

// One sequence's row of a batched decode step: `token` goes to position `pos` of the sequence whose KV pages
// are `block_table` (logical page i is pool page block_table[i]; it must cover pos).
struct SequenceStep {
  int32_t token = 0;
  int pos = 0;
  absl::Span<const int32_t> block_table;
  // Optional: how to pick the row's next token, and the sequence's most recent tokens (ending with `token`)
  // for the repetition penalty. When every row has them, an executor that can samples on the device and
  // returns tokens instead of logits.
  const SamplerOptions* sampler = nullptr;
  absl::Span<const int32_t> recent;
};

// One sequence's part of a batched prefill: `tokens` at positions [pos, pos + tokens.size()) of the sequence
// whose pages are `block_table`.
struct PrefillChunk {
  absl::Span<const int32_t> tokens;
  int pos = 0;
  absl::Span<const int32_t> block_table;
};

// Per row of a batched step, in the order given: the next token (greedy graphs, or sampled on the device),
// or the logits ([rows, n_vocab], row-major). Valid until the next call.
struct BatchOutput {
  absl::Span<const int32_t> tokens;
  absl::Span<const float> logits;

  // Row r of the `rows` as one sequence's output.
  StepOutput Row(size_t rows, size_t r) const {
    StepOutput out;
    if (!tokens.empty()) out.token = tokens[r];
    if (!logits.empty()) out.logits = logits.subspan(r * (logits.size() / rows), logits.size() / rows);
    return out;
  }
};

// Batched decode steps run at batch-size buckets 2, 4, ..., kMaxBatch: a step of B sequences runs the smallest
// bucket that holds them, its extra rows masked, so each bucket's graph is built (and captured) once. The
// lone decode step is the IR's B = 1; a batched step of one sequence still takes the bucket of 2, so that a
// sequence runs the same kernels (and gets the same logits) alone as among others.
constexpr int kMinBatchBucket = 2;
// The most recent tokens a SequenceStep carries for the device sampler's repetition window.
constexpr int kMaxRecentTokens = 256;
constexpr int kMaxBatch = 256;
// The most rows of a batched prefill beyond the context (PrefillBatch).
constexpr int kMaxPrefillRows = 4096;
int BatchBucket(int rows);
// A sequence's %pos record: its position, then its block table.
std::vector<int32_t> PositionRecord(int pos, absl::Span<const int32_t> block_table);

class Executor {
 public:
  virtual ~Executor() = default;
  virtual absl::string_view name() const = 0;
  // Positions one sequence may use: the context, until LimitContext.
  int ctx_size() const { return ctx_size_; }
  // Accepts positions below `ctx` only: the KV pages hold whole pages, so the cache may have room for a few
  // positions more than the context asked for. `ctx` must not exceed the cache.
  absl::Status LimitContext(int ctx);
  // Pages in the KV pool that all sequences share (ops/kv_pages.h), and the most one block table holds.
  int kv_pool_pages() const { return kv_pool_pages_; }
  int max_sequence_pages() const { return max_sequence_pages_; }
  // Whether decode steps output tokens (the graphs end in argmax) rather than logits.
  bool greedy() const { return greedy_; }

  // The lone sequence (generate, perplexity): positions [pos, pos + tokens.size()) in the executor's own pages.
  absl::StatusOr<StepOutput> Prefill(absl::Span<const int32_t> tokens, int pos) {
    return PrefillSequence(tokens, pos, lone_table_);
  }
  // One decode step of the lone sequence: `token` at position `pos`.
  virtual absl::StatusOr<StepOutput> Decode(int32_t token, int pos) = 0;

  // Positions [pos, pos + tokens.size()) of the sequence whose pages are `block_table`.
  virtual absl::StatusOr<StepOutput> PrefillSequence(absl::Span<const int32_t> tokens, int pos,
                                                     absl::Span<const int32_t> block_table) = 0;
  // One decode step of 1..kMaxBatch sequences, each at its own position. No two rows may write one KV slot.
  // `run_ahead` says the caller expects to continue exactly these rows next (each at pos + 1 with the token
  // this step returns, the same tables, settings and windows): an executor may then start that step before
  // returning, and a next call that asks for something else waits for it and discards it.
  virtual absl::StatusOr<BatchOutput> DecodeBatch(absl::Span<const SequenceStep> rows, bool run_ahead) = 0;
  // Prompt chunks of 1..kMaxBatch sequences in one run of `seq_len` rows each, at most max(context,
  // kMaxPrefillRows) rows in all. Each chunk has 2..seq_len tokens (one token is a decode step); a shorter one is
  // padded, and the padding rows write keys and values at the positions after the chunk's, which must lie in
  // the context and in the chunk's block table (they are the sequence's later positions, written again before
  // anything reads them). A sequence's results are those of PrefillSequence on its chunk alone. The output
  // has a row per chunk, in order: the next token or the logits of each chunk's last position. Unlike
  // PrefillSequence, whose graphs follow the chunk's exact length, the graphs here follow (seq_len, chunks),
  // which a caller keeps to a few values by rounding seq_len up.
  virtual absl::StatusOr<BatchOutput> PrefillBatch(absl::Span<const PrefillChunk> chunks, int seq_len) = 0;

 protected:
  // Takes the shapes of the first decode graph: context, pool, and the lone sequence's pages.
  absl::Status InitShapes(const Graph& decode);
  // Checks a prefill's positions and table against the context and the pool.
  absl::Status CheckSequence(int pos, int count, absl::Span<const int32_t> block_table) const;
  // Checks that token ids are in the vocabulary (the embedding's rows).
  absl::Status CheckTokens(absl::Span<const int32_t> tokens) const;
  // Checks one sequence's `count` positions from `pos` and its table (CheckSequence), claims their KV slots in
  // `slots` (an error where another sequence of the step has one) and writes its %pos record (the position,
  // then the table).
  absl::Status AddRecord(int pos, int count, absl::Span<const int32_t> block_table, absl::flat_hash_set<int64_t>* slots,
                         int32_t* record) const;
  // Checks a batched step (positions, tables, tokens, distinct slots) and writes the %pos records ([bucket,
  // 1 + max_sequence_pages]; -1 past each table, padding rows at position -1) and the %tokens of its bucket.
  absl::Status BuildBatchInputs(absl::Span<const SequenceStep> rows, std::vector<int32_t>* pos,
                                std::vector<int32_t>* tokens) const;
  // Checks a batched prefill (PrefillBatch's rules, and no two chunks writing one KV slot) and writes its %pos
  // records ([chunks, 1 + max_sequence_pages], -1 past each table), %tokens ([chunks * seq_len], the padding
  // rows token 0) and %last (each chunk's last row).
  absl::Status BuildPrefillInputs(absl::Span<const PrefillChunk> chunks, int seq_len, std::vector<int32_t>* pos,
                                  std::vector<int32_t>* tokens, std::vector<int32_t>* last) const;

  int ctx_size_ = 0;
  int kv_pool_pages_ = 0;
  int max_sequence_pages_ = 0;
  int embedding_rows_ = 0;  // Valid token ids.
  bool greedy_ = false;
  std::vector<int32_t> lone_table_;  // LoneSequenceBlockTable: the lone sequence's pages.
};

}  // namespace ggrt

#endif  // GGRT_RUNTIME_EXECUTOR_H_
