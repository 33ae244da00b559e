// Runs graphs on an NVIDIA GPU. cuda_executor.cc holds device memory (weights, the KV pool, arenas,
// scratch, inputs) and stepping (prefill, the lone decode step and batched steps, their CUDA Graphs and
// run-ahead); cuda_lowering.cc turns each op of a graph into its kernel launches (BuildLaunches).
//
// Weights are uploaded once in their file dtype (F32, F16, BF16 or a GGUF block format); the KV cache (the
// graphs' states) and the token and position inputs live in device memory shared by all graphs; each
// graph's intermediates live in one device arena laid out by its static memory plan. Every graph ends with
// a kernel that writes the chosen token into the token input and advances the position, so the decode step
// feeds itself: it is run eagerly once (warm-up), captured once into a CUDA Graph, and replayed for every
// later token with no re-capture, no parameter updates and no host-to-device copy unless the host picked
// the token itself. Batched steps do the same per row (DecodeBatch's run-ahead).
// Greedy replays run one step ahead: step pos + 1 is queued before the host waits for step pos, whose
// token arrives in mapped pinned memory; a request that does not continue the sequence drains it.
// Prefill graphs (one per prompt length) are launched directly unless capture is asked for.
#ifndef GGRT_RUNTIME_CUDA_EXECUTOR_H_
#define GGRT_RUNTIME_CUDA_EXECUTOR_H_

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "graph/memory_plan.h"
#include "loader/gguf_file.h"
#include "ops/cuda/gemm_cublaslt.h"
#include "ops/cuda/sampler.h"
#include "ops/cuda/types.h"
#include "runtime/cuda_graph.h"
#include "runtime/executor.h"

namespace ggrt {

struct CudaMemoryStats {
  int64_t weights = 0;
  int64_t kv_cache = 0;
  int64_t activations = 0;  // Arenas of the prepared graphs.
  int64_t scratch = 0;      // Attention partials, GEMM inputs, argmax partials, cuBLASLt workspace.
};

// The purposes of a graph's temporaries (CudaExecutor::Prepared::scratch), each named for the memory
// accounting and allocation errors.
#define GGRT_SCRATCH_PURPOSES(V)                                          \
  V(kGemmInputs, "GEMM inputs")                                           \
  V(kSmallBatchGemm, "small-batch GEMM scratch")                          \
  V(kNormalisedInput, "normalised GEMM input")                            \
  V(kDequantizedWeight, "dequantized weight")                             \
  V(kAttentionPartials, "attention partials")                             \
  V(kPrefillGateUp, "prefill gate and up")                                \
  V(kArgmaxPartials, "argmax partials")                                   \
  V(kArgmaxValues, "argmax partial values")                               \
  V(kArgmaxIndices, "argmax partial indices")                             \
  V(kBatchedSamplerCandidates, "batched sampler candidates")              \
  V(kSamplerCandidates, "sampler candidates")

enum class ScratchPurpose {
#define GGRT_SCRATCH_ENUM(e, name) e,
  GGRT_SCRATCH_PURPOSES(GGRT_SCRATCH_ENUM)
#undef GGRT_SCRATCH_ENUM
};
constexpr int kScratchPurposes = 0
#define GGRT_SCRATCH_COUNT(e, name) +1
    GGRT_SCRATCH_PURPOSES(GGRT_SCRATCH_COUNT)
#undef GGRT_SCRATCH_COUNT
    ;
const char* ScratchPurposeName(ScratchPurpose purpose);

class CudaExecutor : public Executor {
 public:
  // `weights` must outlive the executor. `use_cuda_graph` false launches the decode kernels one by one.
  // With `device_sampling`, graphs that output logits sample on the GPU and return only the token.
  static absl::StatusOr<std::unique_ptr<CudaExecutor>> Create(
      const GgufFile& weights, GraphFactory factory, bool use_cuda_graph,
      std::optional<cuda::SamplerConfig> device_sampling = std::nullopt);
  ~CudaExecutor() override;

  absl::string_view name() const override { return use_cuda_graph_ ? "cuda+graph" : "cuda"; }
  absl::StatusOr<StepOutput> Decode(int32_t token, int pos) override;
  absl::StatusOr<StepOutput> PrefillSequence(absl::Span<const int32_t> tokens, int pos,
                                             absl::Span<const int32_t> block_table) override;
  absl::StatusOr<BatchOutput> DecodeBatch(absl::Span<const SequenceStep> rows, bool run_ahead) override;
  absl::StatusOr<BatchOutput> PrefillBatch(absl::Span<const PrefillChunk> chunks, int seq_len) override;

  const CudaMemoryStats& memory() const { return memory_; }

  // Per-op device time of eager steps (forces launches without the CUDA Graph while on), by op name, and by
  // shape for the prefill GEMMs ("gemm 512x4864x896": M x N x K) with their floating-point operations, for
  // achieved TFLOP/s. For finding where a step's time goes, not for throughput numbers.
  struct ProfileEntry {
    double ms = 0;
    int launches = 0;
    double flops = 0;  // Total over the launches; 0 where not counted.
  };
  void set_profiling(bool on) { profiling_ = on; }
  void clear_profile() { profile_.clear(); }
  const std::map<std::string, ProfileEntry>& profile() const { return profile_; }
  // Prefill graphs captured into a CUDA Graph on the second use of a prompt length and replayed after
  // that (default off: prompt lengths seldom repeat exactly; bench measures both).
  void set_capture_prefill(bool on) { capture_prefill_ = on; }
  // Batched steps that ran ahead of the host and were used (DecodeBatch's run_ahead).
  int64_t batch_steps_ahead_used() const { return batch_steps_ahead_used_; }
  // Kernel nodes in the captured decode graph (0 before the first capture).
  size_t decode_graph_nodes() const { return decode_graph_ ? decode_graph_->node_count() : 0; }

 private:
  struct Launch {
    std::string label;  // The op it belongs to, for profiles.
    std::function<absl::Status(cudaStream_t)> run;
    double flops = 0;
  };
  struct DeviceWeight {
    const void* ptr;
    cuda::WeightType type;
  };
  struct Prepared {
    explicit Prepared(Graph g) : graph(std::move(g)) {}
    Graph graph;
    MemoryPlan plan;
    char* arena = nullptr;
    // Per-op temporaries by purpose (the buffer and its bytes), shared by the nodes of the graph that need
    // one (the graph's kernels run one after another): a long prefill needs one set, not one per layer.
    std::array<std::pair<void*, int64_t>, kScratchPurposes> scratch{};
    std::vector<Launch> launches;
    int seq_len = 0;
    int batch = 1;               // Sequences of a decode step or a batched prefill.
    bool spans = false;          // A batched prefill (LowerOptions::spans).
    bool greedy = false;         // The graph itself ends in argmax.
    bool returns_token = false;  // Greedy, or sampled on the device: only a token leaves the GPU.
    bool uses_ring = false;      // The token reaches the host through host_ring_ (the decode step).
    const Value* output = nullptr;
    // Pinned copy of the logits output ([rows, n_vocab]); per graph, since a captured graph's copy keeps
    // its destination.
    float* host_logits = nullptr;
    int32_t* host_tokens = nullptr;      // Pinned [batch]: the tokens of a batched step.
    int runs = 0;                        // Times enqueued.
    std::unique_ptr<CudaGraph> captured;  // Prefill with capture_prefill_, and batched decode steps.
  };

  CudaExecutor(const GgufFile& weights, GraphFactory factory, bool use_cuda_graph,
               std::optional<cuda::SamplerConfig> device_sampling)
      : weights_(weights),
        factory_(std::move(factory)),
        use_cuda_graph_(use_cuda_graph),
        device_sampling_(device_sampling) {}
  // Whether weight v goes to the device in ggrt's Q8_0 row layout, and its bytes there.
  bool TakesQ8_0Rows(const Value* v) const;
  int64_t DeviceBytes(const Value* v, const GgufTensorInfo& t) const;
  absl::Status Init();
  absl::StatusOr<Prepared*> GetGraph(int seq_len, int batch, bool spans = false);
  // Copies %pos records (position, then block table), `tokens` and a batched prefill's %last to the device
  // inputs.
  absl::Status Upload(absl::Span<const int32_t> pos, absl::Span<const int32_t> tokens,
                      absl::Span<const int32_t> last = {});
  absl::Status BuildLaunches(Prepared& p);
  absl::StatusOr<DeviceWeight> Weight(const Value* v);
  // One allocation for the weights the first graph reads and one for its KV cache, sliced in 256-byte slots
  // (cuBLASLt's preferred alignment; past cuda::WeightAllocationBytes's contract): a cudaMalloc per
  // tensor left ~90-235 MB of the device unaccounted for (Q4_K_M 101 MB, F16 after an 8192-token prompt 245 MB,
  // on an H200), consistent with each large allocation taking whole 2 MB pages; with the arenas, 10-13 MB
  // (PERF_NOTES.md, step 40). Weights another graph alone reads get their own allocation.
  absl::Status AllocateArenas(const Graph& g);
  float* Buffer(Prepared& p, const Value* v);
  absl::StatusOr<void*> Allocate(int64_t bytes, const std::string& what, int64_t* counter);
  absl::Status Enqueue(Prepared& p);
  // Enqueues `p`: launched kernel by kernel, or with `capture` (and not profiling) from its CUDA Graph,
  // captured on its second run (the first makes every allocation and cuBLASLt choice).
  absl::Status Run(Prepared& p, bool capture);
  absl::Status LaunchDecodeStep(Prepared& p, int pos);
  absl::StatusOr<StepOutput> FinishSpeculated(Prepared& p, int pos);
  absl::Status DrainSpeculation();
  absl::StatusOr<StepOutput> Finish(Prepared& p, int pos);
  // Enqueues a batched step (eager the first time, then its captured graph) and marks its end.
  absl::Status LaunchBatch(Prepared& p);
  // Waits for batched step `step` of `rows` and takes its tokens, first starting the next step when asked.
  absl::StatusOr<BatchOutput> FinishBatch(Prepared& p, absl::Span<const SequenceStep> rows, int64_t step,
                                          bool run_ahead);

  const GgufFile& weights_;
  GraphFactory factory_;
  bool use_cuda_graph_;
  // The Q8_0 weights that go to the device in ggrt's row layout (AllocateArenas, from the first graph).
  absl::flat_hash_set<std::string> q8_0_rows_;
  std::optional<cuda::SamplerConfig> device_sampling_;
  cuda::SamplerConfig* sampler_config_ = nullptr;  // Device copy of *device_sampling_.
  int32_t* sampled_token_ = nullptr;               // Device.
  int n_vocab_ = 0;         // Logits per step (0 when the graph outputs a token).
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<cuda::CublasLtGemm> gemm_;
  std::vector<void*> allocations_;
  CudaMemoryStats memory_;
  absl::flat_hash_map<std::string, DeviceWeight> device_weights_;
  absl::flat_hash_map<std::string, void*> weight_slots_;  // AllocateArenas: each weight's place, until uploaded.
  absl::flat_hash_map<std::string, float*> states_;
  std::map<std::tuple<int, int, bool>, std::unique_ptr<Prepared>> graphs_;  // By (sequence length, batch, spans).
  int32_t* tokens_ = nullptr;  // Device [token_slots_]: the %tokens input.
  int64_t token_slots_ = 0;    // max(ctx, kMaxBatch, kMaxPrefillRows)
  // Device: the %pos input (the position, then the block table). Written only between steps (a copy before
  // the launches, or the advance kernel that ends a step): the attention kernels read it before waiting on
  // their predecessor.
  int32_t* pos_ = nullptr;  // [kMaxBatch, 1 + max_sequence_pages_]: pos_slots_
  int64_t pos_slots_ = 0;
  int32_t* last_rows_ = nullptr;  // Device [kMaxBatch]: a batched prefill's %last input.
  // Pinned staging of the uploads (a copy from pageable memory would not be ordered with the stream).
  int32_t* host_inputs_ = nullptr;
  // Batched steps sampled on the device: per row its settings, its recent tokens and their count (device,
  // uploaded with each step from the pinned staging), and the chosen tokens.
  cuda::SamplerConfig* batch_configs_ = nullptr;
  int32_t* batch_windows_ = nullptr;  // [kMaxBatch, kBatchRepeatWindow] then [kMaxBatch] lengths.
  int32_t* batch_sampled_ = nullptr;
  char* host_sampling_ = nullptr;     // Pinned staging of the configs, windows and lengths.
  // Whether pos_ holds the lone sequence's block table (the other calls upload their own).
  bool lone_table_on_device_ = true;
  int32_t* history_ = nullptr;  // Device [ctx]: the token at each position, for the repetition penalty.
  int32_t* host_token_ = nullptr;  // Pinned.
  int32_t* host_ring_ = nullptr;   // Mapped pinned, two slots by position parity.
  int32_t* device_ring_ = nullptr;  // The same memory as the device sees it.
  cudaEvent_t step_done_[2] = {nullptr, nullptr};  // By position parity.
  // A decode step launched ahead of the host's request: the graph replays itself from the device-side
  // token, so step pos + 1 starts while the host still reads the token of step pos.
  bool speculated_ = false;
  int speculated_pos_ = -1;
  int32_t speculated_input_ = -1;  // The token the speculated step consumed.

  // Batched steps hand their tokens to the host through a mapped ring, two slots of kMaxBatch by the parity
  // of the step's number (batch_steps_: steps enqueued; the device keeps its own count).
  int32_t* batch_ring_ = nullptr;
  int32_t* device_batch_ring_ = nullptr;
  int32_t* batch_steps_on_device_ = nullptr;
  int64_t batch_steps_ = 0;
  cudaEvent_t batch_done_[2] = {nullptr, nullptr};  // By step parity.
  // A batched step started ahead of the host's call: what that call must ask for to use it.
  struct BatchAhead {
    struct Row {
      int pos;
      int32_t token;  // The previous step's token for this row.
      const int32_t* table;
      size_t table_size;
      std::optional<SamplerOptions> sampler;
      size_t recent;  // The window length the device advanced to.
    };
    bool Continues(absl::Span<const SequenceStep> next, int ctx) const;
    Prepared* graph = nullptr;
    int64_t step = 0;
    std::vector<Row> rows;
  };
  std::optional<BatchAhead> batch_ahead_;
  int64_t batch_steps_ahead_used_ = 0;

  std::unique_ptr<CudaGraph> decode_graph_;
  bool decode_warmed_up_ = false;
  // What the device holds after the last step, so Decode uploads nothing when they already agree.
  int32_t device_token_ = -1;
  int device_pos_ = -1;
  bool profiling_ = false;
  bool capture_prefill_ = false;
  std::map<std::string, ProfileEntry> profile_;
};

// Whether a CUDA device is usable.
bool CudaAvailable();

}  // namespace ggrt

#endif  // GGRT_RUNTIME_CUDA_EXECUTOR_H_
