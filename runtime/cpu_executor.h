// Runs graphs node by node with the CPU reference ops. Weights are dequantized to f32 on first use; the KV
// cache (the graphs' states) is shared by the prefill and decode graphs; each graph's intermediates live in
// one arena laid out by its static memory plan.
#ifndef GGRT_RUNTIME_CPU_EXECUTOR_H_
#define GGRT_RUNTIME_CPU_EXECUTOR_H_

#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "graph/memory_plan.h"
#include "loader/gguf_file.h"
#include "runtime/executor.h"

namespace ggrt {

// Zeroed floats from calloc, which maps fresh pages for large sizes without touching them: memory is
// committed as it is written, so a KV cache for a long context costs what its used positions cost, and
// an attention buffer sized by the context what the current length needs.
class ZeroedFloats {
 public:
  static absl::StatusOr<ZeroedFloats> Allocate(int64_t elements, absl::string_view what);
  ZeroedFloats() = default;
  float* data() const { return data_.get(); }
  int64_t elements() const { return elements_; }

 private:
  std::unique_ptr<float, void (*)(void*)> data_{nullptr, &std::free};
  int64_t elements_ = 0;
};

class CpuExecutor : public Executor {
 public:
  // `weights` must outlive the executor.
  static absl::StatusOr<std::unique_ptr<CpuExecutor>> Create(const GgufFile& weights, GraphFactory factory);

  absl::string_view name() const override { return "cpu"; }
  absl::StatusOr<StepOutput> Decode(int32_t token, int pos) override;
  absl::StatusOr<StepOutput> PrefillSequence(absl::Span<const int32_t> tokens, int pos,
                                             absl::Span<const int32_t> block_table) override;
  absl::StatusOr<BatchOutput> DecodeBatch(absl::Span<const SequenceStep> rows, bool run_ahead) override;  // Never runs ahead.
  absl::StatusOr<BatchOutput> PrefillBatch(absl::Span<const PrefillChunk> chunks, int seq_len) override;

 private:
  struct Prepared {
    Graph graph;
    MemoryPlan plan;
    ZeroedFloats arena;
  };

  CpuExecutor(const GgufFile& weights, GraphFactory factory) : weights_(weights), factory_(std::move(factory)) {}
  absl::StatusOr<Prepared*> GetGraph(int seq_len, int batch, bool spans = false);
  // Runs the graph over tokens_, pos_ and last_ (its %tokens, %pos and %last inputs).
  absl::Status Run(Prepared& p);
  absl::Status RunNode(Prepared& p, const Node& n);
  StepOutput Output(Prepared& p);
  BatchOutput BatchOutputOf(Prepared& p, size_t rows);
  absl::StatusOr<const float*> Param(const Value* v);
  float* Buffer(Prepared& p, const Value* v);

  const GgufFile& weights_;
  GraphFactory factory_;
  std::map<std::tuple<int, int, bool>, std::unique_ptr<Prepared>> graphs_;  // By (sequence length, batch, spans).
  absl::flat_hash_map<std::string, std::vector<float>> params_;
  absl::flat_hash_map<std::string, ZeroedFloats> states_;
  // The running graph's %tokens, %pos and %last inputs.
  std::vector<int32_t> tokens_;
  std::vector<int32_t> pos_;
  std::vector<int32_t> last_;
};

}  // namespace ggrt

#endif  // GGRT_RUNTIME_CPU_EXECUTOR_H_
