#include "runtime/cuda_executor.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/quote.h"
#include "base/status_macros.h"
#include "loader/dequantize.h"
#include "ops/cuda/attention.h"
#include "ops/cuda/cuda_status.h"
#include "ops/cuda/elementwise.h"
#include "ops/cuda/flash_attention.h"
#include "ops/cuda/gemv.h"
#include "ops/cuda/rms_norm.h"
#include "ops/cuda/rope.h"
#include "ops/cuda/small_batch_gemm.h"
#include "ops/kv_pages.h"

namespace ggrt {
namespace {

using cuda::WeightType;

int Rows(const Value* v) { return static_cast<int>(v->type.shape[0]); }
int Cols(const Value* v) { return static_cast<int>(v->type.shape[1]); }

absl::StatusOr<WeightType> ToWeightType(const Value* v) {
  switch (v->type.dtype) {
    case DType::kF32: return WeightType::kF32;
    case DType::kF16: return WeightType::kF16;
    case DType::kBF16: return WeightType::kBF16;
    case DType::kQ8_0: return WeightType::kQ8_0;
    case DType::kQ4_0: return WeightType::kQ4_0;
    case DType::kQ4_1: return WeightType::kQ4_1;
    case DType::kQ5_0: return WeightType::kQ5_0;
    case DType::kQ5_1: return WeightType::kQ5_1;
    case DType::kQ2_K: return WeightType::kQ2_K;
    case DType::kQ3_K: return WeightType::kQ3_K;
    case DType::kQ4_K: return WeightType::kQ4_K;
    case DType::kQ5_K: return WeightType::kQ5_K;
    case DType::kQ6_K: return WeightType::kQ6_K;
    default:
      return absl::UnimplementedError(absl::StrCat("tensor ", Quote(v->name), " is ", DTypeName(v->type.dtype),
                                                   "; the CUDA backend reads f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, "
                                                   "q5_1, q2_k, q3_k, q4_k, q5_k and q6_k weights"));
  }
}

// Wraps a kernel launcher's cudaError_t.
absl::Status Check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return absl::OkStatus();
  return cuda::CudaError(e, what);
}

int64_t Elements(const Value* v) { return v->type.elements(); }

// Query heads per attention block: a batched step of many rows has blocks enough to give each one a whole
// GQA group (each K/V tile loaded once for it); fewer rows keep a block per head to fill the SMs. The
// results are the same either way (ops/cuda/attention.h), so the choice may follow the batch. kernel_bench
// --batch (H200, 192 positions, Qwen2.5-0.5B's 7 heads a group), us per launch, a block per head vs per
// group: 2 rows 10.7 vs 34.9, 16 rows 13.6 vs 35.0, 64 rows 24.9 vs 38.3, 128 rows 47.3 vs 38.7.
int AttentionGroup(const cuda::AttentionParams& p) {
  constexpr int kGroupedRows = 128;
  const bool grouped = p.pos_stride > 0 && p.rows >= kGroupedRows &&
                       cuda::AttentionGroupSupported(p.heads, p.kv_heads, p.head_dim);
  return grouped ? p.heads / p.kv_heads : 1;
}

}  // namespace

bool CudaAvailable() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

absl::StatusOr<std::unique_ptr<CudaExecutor>> CudaExecutor::Create(
    const GgufFile& weights, GraphFactory factory, bool use_cuda_graph,
    std::optional<cuda::SamplerConfig> device_sampling) {
  RET_CHECK(CudaAvailable(), "no CUDA device is available");
  RET_CHECK(!device_sampling || device_sampling->temperature > 0, "device sampling needs a temperature > 0");
  RET_CHECK(!device_sampling || device_sampling->repeat_last_n <= cuda::kMaxRepeatWindow,
            "device sampling looks back at most ", cuda::kMaxRepeatWindow, " tokens");
  std::unique_ptr<CudaExecutor> e(
      new CudaExecutor(weights, std::move(factory), use_cuda_graph, device_sampling));
  RETURN_IF_ERROR(e->Init());
  return e;
}

CudaExecutor::~CudaExecutor() {
  decode_graph_.reset();
  gemm_.reset();
  if (stream_) cudaStreamSynchronize(stream_);
  for (void* p : allocations_) cudaFree(p);
  if (host_token_) cudaFreeHost(host_token_);
  if (host_ring_) cudaFreeHost(host_ring_);
  if (batch_ring_) cudaFreeHost(batch_ring_);
  if (host_inputs_) cudaFreeHost(host_inputs_);
  if (host_sampling_) cudaFreeHost(host_sampling_);
  for (cudaEvent_t e : step_done_) {
    if (e) cudaEventDestroy(e);
  }
  for (cudaEvent_t e : batch_done_) {
    if (e) cudaEventDestroy(e);
  }
  for (const auto& [seq_len, p] : graphs_) {
    if (p->host_logits) cudaFreeHost(p->host_logits);
    if (p->host_tokens) cudaFreeHost(p->host_tokens);
  }
  if (stream_) cudaStreamDestroy(stream_);
}

absl::StatusOr<void*> CudaExecutor::Allocate(int64_t bytes, const std::string& what, int64_t* counter) {
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, std::max<int64_t>(bytes, 1));
  if (e != cudaSuccess) {
    cudaGetLastError();  // Clear the sticky-free error so later calls are not blamed.
    size_t free_bytes = 0, total = 0;
    cudaMemGetInfo(&free_bytes, &total);
    return absl::ResourceExhaustedError(absl::StrCat("CUDA out of memory allocating ", what, " (", bytes,
                                                     " bytes; ", free_bytes, " of ", total, " bytes free)"));
  }
  allocations_.push_back(p);
  *counter += bytes;
  return p;
}

absl::Status CudaExecutor::Init() {
  // Spin while waiting for a step: the host reads each token microseconds after the GPU writes it. The
  // flag only applies before the context exists; later it is refused, harmlessly.
  if (cudaSetDeviceFlags(cudaDeviceScheduleSpin) != cudaSuccess) cudaGetLastError();
  CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  CUDA_RETURN_IF_ERROR(cudaHostAlloc(&host_ring_, 2 * sizeof(int32_t), cudaHostAllocMapped));
  CUDA_RETURN_IF_ERROR(cudaHostGetDevicePointer(reinterpret_cast<void**>(&device_ring_), host_ring_, 0));
  for (cudaEvent_t& e : step_done_) CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  CUDA_RETURN_IF_ERROR(cudaHostAlloc(&batch_ring_, 2 * kMaxBatch * sizeof(int32_t), cudaHostAllocMapped));
  CUDA_RETURN_IF_ERROR(cudaHostGetDevicePointer(reinterpret_cast<void**>(&device_batch_ring_), batch_ring_, 0));
  for (cudaEvent_t& e : batch_done_) CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  ASSIGN_OR_RETURN(void* steps, Allocate(sizeof(int32_t), "the batched step count", &memory_.scratch));
  CUDA_RETURN_IF_ERROR(cudaMemset(steps, 0, sizeof(int32_t)));
  batch_steps_on_device_ = static_cast<int32_t*>(steps);
  ASSIGN_OR_RETURN(gemm_, cuda::CublasLtGemm::Create());
  if (device_sampling_) {
    ASSIGN_OR_RETURN(void* config, Allocate(sizeof(cuda::SamplerConfig), "the sampler settings", &memory_.scratch));
    ASSIGN_OR_RETURN(void* token, Allocate(sizeof(int32_t), "the sampled token", &memory_.scratch));
    sampler_config_ = static_cast<cuda::SamplerConfig*>(config);
    sampled_token_ = static_cast<int32_t*>(token);
    CUDA_RETURN_IF_ERROR(
        cudaMemcpy(sampler_config_, &*device_sampling_, sizeof(cuda::SamplerConfig), cudaMemcpyHostToDevice));
  }
  memory_.scratch += 32 << 20;  // The cuBLASLt workspace.
  ASSIGN_OR_RETURN(Prepared * decode, GetGraph(1, 1));
  (void)decode;
  CUDA_RETURN_IF_ERROR(cudaMallocHost(&host_token_, sizeof(int32_t)));
  return absl::OkStatus();
}

absl::StatusOr<CudaExecutor::DeviceWeight> CudaExecutor::Weight(const Value* v) {
  if (auto it = device_weights_.find(v->name); it != device_weights_.end()) return it->second;
  ASSIGN_OR_RETURN(const WeightType type, ToWeightType(v));
  ASSIGN_OR_RETURN(const GgufTensorInfo* t, weights_.GetTensor(v->name));
  ASSIGN_OR_RETURN(void* p, Allocate(t->bytes, absl::StrCat("weight '", v->name, "'"), &memory_.weights));
  CUDA_RETURN_IF_ERROR(cudaMemcpy(p, t->data, t->bytes, cudaMemcpyHostToDevice));
  return device_weights_[v->name] = DeviceWeight{p, type};
}

float* CudaExecutor::Buffer(Prepared& p, const Value* v) {
  const Value* owner = BufferOwner(v);
  if (owner->kind == ValueKind::kState) return states_.at(owner->name);
  return reinterpret_cast<float*>(p.arena + p.plan.offsets.at(owner));
}

absl::StatusOr<CudaExecutor::Prepared*> CudaExecutor::GetGraph(int seq_len, int batch) {
  if (auto it = graphs_.find({seq_len, batch}); it != graphs_.end()) return it->second.get();
  ASSIGN_OR_RETURN(Graph g, factory_(seq_len, batch));
  auto p = std::make_unique<Prepared>(std::move(g));
  p->seq_len = seq_len;
  p->batch = batch;
  ASSIGN_OR_RETURN(p->plan, PlanMemory(p->graph, 256));
  ASSIGN_OR_RETURN(void* arena, Allocate(p->plan.arena_bytes, absl::StrCat("the activations of graph '",
                                                                           p->graph.name(), "'"),
                                         &memory_.activations));
  p->arena = static_cast<char*>(arena);
  p->output = p->graph.outputs()[0];
  p->greedy = p->output->type.dtype == DType::kI32;
  if (!p->greedy) CUDA_RETURN_IF_ERROR(cudaMallocHost(&p->host_logits, Elements(p->output) * sizeof(float)));
  if (batch > 1) CUDA_RETURN_IF_ERROR(cudaMallocHost(&p->host_tokens, batch * sizeof(int32_t)));
  if (pos_ == nullptr) {  // The first graph, the lone decode step, gives the shapes.
    RETURN_IF_ERROR(InitShapes(p->graph));
    n_vocab_ = p->greedy ? 0 : Cols(p->output);
    token_slots_ = std::max(ctx_size_, kMaxBatch);
    ASSIGN_OR_RETURN(void* tokens, Allocate(token_slots_ * sizeof(int32_t), "the token input", &memory_.scratch));
    // %pos: a record (the position, then the block table) per sequence of the largest batch.
    pos_slots_ = int64_t{kMaxBatch} * (1 + max_sequence_pages_);
    ASSIGN_OR_RETURN(void* pos, Allocate(pos_slots_ * sizeof(int32_t), "the positions and block tables",
                                         &memory_.scratch));
    CUDA_RETURN_IF_ERROR(cudaMallocHost(&host_inputs_, (pos_slots_ + token_slots_) * sizeof(int32_t)));
    if (!p->greedy) {
      const int64_t config_bytes = int64_t{kMaxBatch} * sizeof(cuda::SamplerConfig);
      const int64_t window_bytes = int64_t{kMaxBatch} * (cuda::kBatchRepeatWindow + 1) * sizeof(int32_t);
      ASSIGN_OR_RETURN(void* configs, Allocate(config_bytes, "the batched sampler settings", &memory_.scratch));
      ASSIGN_OR_RETURN(void* windows, Allocate(window_bytes, "the batched sampler windows", &memory_.scratch));
      ASSIGN_OR_RETURN(void* sampled, Allocate(kMaxBatch * sizeof(int32_t), "the sampled tokens", &memory_.scratch));
      // Zeros until the first upload: no penalty windows, so a graph run without settings reads nothing.
      CUDA_RETURN_IF_ERROR(cudaMemset(configs, 0, config_bytes));
      CUDA_RETURN_IF_ERROR(cudaMemset(windows, 0, window_bytes));
      batch_configs_ = static_cast<cuda::SamplerConfig*>(configs);
      batch_windows_ = static_cast<int32_t*>(windows);
      batch_sampled_ = static_cast<int32_t*>(sampled);
      CUDA_RETURN_IF_ERROR(cudaMallocHost(&host_sampling_, config_bytes + window_bytes));
    }
    tokens_ = static_cast<int32_t*>(tokens);
    pos_ = static_cast<int32_t*>(pos);
    RETURN_IF_ERROR(Upload(PositionRecord(0, lone_table_), {}));
    if (device_sampling_) {
      ASSIGN_OR_RETURN(void* history, Allocate(ctx_size_ * sizeof(int32_t), "the token history", &memory_.scratch));
      CUDA_RETURN_IF_ERROR(cudaMemset(history, 0, ctx_size_ * sizeof(int32_t)));
      history_ = static_cast<int32_t*>(history);
    }
  }
  for (const Value* s : p->graph.states()) {
    if (states_.contains(s->name)) continue;
    ASSIGN_OR_RETURN(void* buf, Allocate(s->type.bytes(), absl::StrCat("KV cache '", s->name, "'"), &memory_.kv_cache));
    CUDA_RETURN_IF_ERROR(cudaMemset(buf, 0, s->type.bytes()));
    states_[s->name] = static_cast<float*>(buf);
  }
  RETURN_IF_ERROR(BuildLaunches(*p));
  Prepared* raw = p.get();
  graphs_[{seq_len, batch}] = std::move(p);
  return raw;
}

absl::Status CudaExecutor::BuildLaunches(Prepared& p) {
  // A temporary for `what`, shared with the graph's other nodes that ask for the same purpose.
  auto scratch = [&](int64_t bytes, const std::string& what) -> absl::StatusOr<void*> {
    auto& [ptr, size] = p.scratch[what];
    if (size < bytes) {  // Only the first request in practice: a graph's layers have equal shapes.
      ASSIGN_OR_RETURN(ptr, Allocate(bytes, what, &memory_.scratch));
      size = bytes;
    }
    return ptr;
  };
  // One f16/bf16 copy of a matmul input for cuBLASLt, sized for the widest input of the graph.
  int64_t widest_input = 0;
  for (const Node* n : p.graph.nodes()) {
    switch (n->op) {
      case OpKind::kMatmul:
      case OpKind::kMultiMatmul:
      case OpKind::kFusedGateUpSwiglu:
      case OpKind::kFusedNormMatmul:
      case OpKind::kFusedNormGateUpSwiglu:
      case OpKind::kFusedMatmulResidual:
        if (Rows(n->operands[0]) > 1) widest_input = std::max(widest_input, Elements(n->operands[0]));
        break;
      default:
        break;
    }
  }
  void* converted = nullptr;
  if (widest_input > 0) {
    ASSIGN_OR_RETURN(converted, scratch(widest_input * 4, "GEMM inputs"));
  }

  std::string label;  // Op of the launches being added.
  auto add = [&](std::function<absl::Status(cudaStream_t)> run) { p.launches.push_back({label, std::move(run)}); };

  // A batched decode step's products on the small-batch tensor-core kernel, which reads each weight once
  // for all rows and keeps every row's result independent of the batch; false when it does not take them.
  auto small_batch = [&](const Value* x, const std::vector<const Value*>& ws, const std::vector<float*>& ys,
                         cuda::NormPrologue norm, const float* residual, bool swiglu) -> absl::StatusOr<bool> {
    if (p.batch == 1 || ws.size() > 3) return false;
    cuda::SmallBatchGemmParams g{Buffer(p, x), Rows(x), Cols(x), WeightType::kF32, static_cast<int>(ws.size()),
                                 {}, {}, {}, norm, residual, swiglu};
    for (size_t i = 0; i < ws.size(); ++i) {
      ASSIGN_OR_RETURN(DeviceWeight d, Weight(ws[i]));
      RET_CHECK(i == 0 || d.type == g.type, "weights of one product differ in dtype");
      g.type = d.type;
      g.w[i] = d.ptr;
      g.n[i] = Rows(ws[i]);
      if (i < ys.size()) g.y[i] = ys[i];
    }
    if (!cuda::SmallBatchGemmSupports(g)) {
      // Shapes the kernel does not tile (tiny models) and f32 weights: the decode GEMV once per row, which
      // keeps each row's result independent of the batch too. Block formats take the general path.
      if (cuda::IsQuantized(g.type)) return false;
      for (int b = 0; b < g.rows; ++b) {
        const float* xb = g.x + static_cast<int64_t>(b) * g.k;
        if (swiglu) {
          const cuda::GateUpParams gu{xb, g.k, g.type, g.w[0], g.w[1], g.n[0], g.y[0] + static_cast<int64_t>(b) * g.n[0],
                                      norm};
          add([gu](cudaStream_t s) { return Check(cuda::LaunchGateUpSwiglu(gu, s), "gate_up"); });
          continue;
        }
        cuda::GemvParams gv{xb, g.k, g.type, g.count, {}, {}, {}, norm,
                            residual != nullptr ? residual + static_cast<int64_t>(b) * g.n[0] : nullptr};
        for (int i = 0; i < g.count; ++i) {
          gv.w[i] = g.w[i];
          gv.y[i] = g.y[i] + static_cast<int64_t>(b) * g.n[i];
          gv.n[i] = g.n[i];
        }
        add([gv](cudaStream_t s) { return Check(cuda::LaunchGemv(gv, s), "gemv"); });
      }
      return true;
    }
    if (const int64_t bytes = cuda::SmallBatchGemmScratchBytes(g); bytes > 0) {
      // Partials of k split over blocks, and counters zeroed once (each launch leaves them at zero).
      ASSIGN_OR_RETURN(g.scratch, scratch(bytes, "small-batch GEMM partials"));
      CUDA_RETURN_IF_ERROR(cudaMemset(g.scratch, 0, bytes));
    }
    int n_total = 0;
    for (int i = 0; i < g.count; ++i) n_total += g.n[i];
    p.launches.push_back({absl::StrCat("small-batch gemm ", g.rows, "x", n_total, "x", g.k),
                          [g](cudaStream_t s) { return Check(cuda::LaunchSmallBatchGemm(g, s), "small-batch gemm"); },
                          2.0 * g.rows * n_total * g.k});
    return true;
  };

  // Products of x [rows, k] (normalised first when `norm` has a weight) with each weight, into each
  // output, plus `residual` when given (single weight only).
  auto matmuls = [&](const Value* x, std::vector<const Value*> ws, std::vector<float*> ys,
                     cuda::NormPrologue norm = {}, const float* residual = nullptr) -> absl::Status {
    ASSIGN_OR_RETURN(const bool batched, small_batch(x, ws, ys, norm, residual, /*swiglu=*/false));
    if (batched) return absl::OkStatus();
    std::vector<DeviceWeight> dw;
    for (const Value* w : ws) {
      ASSIGN_OR_RETURN(DeviceWeight d, Weight(w));
      RET_CHECK(dw.empty() || d.type == dw[0].type, "weights of one product differ in dtype");
      dw.push_back(d);
    }
    const float* xp = Buffer(p, x);
    const int rows = Rows(x), k = Cols(x);
    if (rows == 1) {
      for (size_t i = 0; i < ws.size(); i += 3) {
        cuda::GemvParams g{xp, k, dw[0].type, 0, {}, {}, {}, norm, residual};
        for (size_t j = i; j < ws.size() && j < i + 3; ++j) {
          g.w[g.count] = dw[j].ptr;
          g.y[g.count] = ys[j];
          g.n[g.count++] = Rows(ws[j]);
        }
        add([g](cudaStream_t s) { return Check(cuda::LaunchGemv(g, s), "gemv"); });
      }
      return absl::OkStatus();
    }
    // Block formats: each weight is decoded to f16 in scratch just before its product (no dequantized copy
    // of the model is kept), and the product runs in f16.
    const bool quantized = cuda::IsQuantized(dw[0].type);
    const WeightType type = quantized ? WeightType::kF16 : dw[0].type;
    if (norm.weight != nullptr) {
      // Prefill: normalise into scratch, then the products read that.
      ASSIGN_OR_RETURN(void* normed, scratch(static_cast<int64_t>(rows) * k * 4, "normalised GEMM input"));
      const cuda::RmsNormParams r{xp, nullptr, nullptr, norm.weight, norm.type, rows, k, norm.eps,
                                  static_cast<float*>(normed)};
      add([r](cudaStream_t s) { return Check(cuda::LaunchRmsNorm(r, s), "rms_norm"); });
      xp = static_cast<const float*>(normed);
    }
    const void* input = xp;
    if (type != WeightType::kF32) {
      RET_CHECK(converted != nullptr, "no scratch for the converted input of a ", rows, "-row product");
      input = converted;
      const int64_t n = static_cast<int64_t>(rows) * k;
      add([xp, n, type, converted](cudaStream_t s) {
        return Check(cuda::LaunchConvert(xp, n, type, converted, s), "convert");
      });
    }
    for (size_t i = 0; i < ws.size(); ++i) {
      const void* w = dw[i].ptr;
      if (quantized) {
        ASSIGN_OR_RETURN(void* tile, scratch(Elements(ws[i]) * 2, "dequantized weight"));
        const cuda::DequantizeParams d{w, dw[i].type, Rows(ws[i]), k, tile};
        add([d](cudaStream_t s) { return Check(cuda::LaunchDequantize(d, s), "dequantize"); });
        w = tile;
      }
      const cuda::GemmParams g{input, w, type, rows, k, Rows(ws[i]), ys[i], residual};
      p.launches.push_back({absl::StrCat("gemm ", rows, "x", Rows(ws[i]), "x", k),
                            [this, g](cudaStream_t s) { return gemm_->Run(g, s); },
                            2.0 * rows * Rows(ws[i]) * k});
    }
    return absl::OkStatus();
  };

  // Binds the optional Q, K, V biases of fused_bias_rope and fused_rope_attention.
  auto bind_biases = [&](const Node* n, const void** const (&slots)[3], WeightType* type) -> absl::Status {
    const int first = QkvBiasOperand(*n);
    if (first < 0) return absl::OkStatus();
    for (int i = 0; i < 3; ++i) {
      ASSIGN_OR_RETURN(DeviceWeight w, Weight(n->operands[first + i]));
      RET_CHECK(i == 0 || w.type == *type, "QKV biases differ in dtype");
      *slots[i] = w.ptr;
      *type = w.type;
    }
    return absl::OkStatus();
  };
  // The angles' frequency table of a rope node, with its scaling and frequency divisors (read on the host).
  auto rope_table = [&](const Node* n, const RopeAttrs& r) -> absl::StatusOr<cuda::RopeTable> {
    const cuda::RopeShape shape{r.theta, r.dims, r.head_dim, r.neox};
    const Value* factors = RopeFreqFactors(*n);
    if (factors == nullptr) return cuda::MakeRopeTable(shape, r.freq_scale);
    ASSIGN_OR_RETURN(const GgufTensorInfo* t, weights_.GetTensor(factors->name));
    std::vector<float> values(t->elements());
    RETURN_IF_ERROR(DequantizeRow(t->dtype, t->data, values.data(), t->elements()));
    return cuda::MakeRopeTable(shape, r.freq_scale, values.data());
  };
  // Attention partials for `rows` rows, zeroed once: the split counters must start at zero (each launch
  // leaves them at zero again, so the nodes can share them).
  auto attention_scratch = [&](int rows, const AttentionAttrs& a, int splits) -> absl::StatusOr<void*> {
    const int64_t bytes = cuda::AttentionScratchBytes(rows, a.heads, a.head_dim, splits);
    ASSIGN_OR_RETURN(void* partial, scratch(bytes, "attention partials"));
    CUDA_RETURN_IF_ERROR(cudaMemset(partial, 0, bytes));
    return partial;
  };

  for (const Node* n : p.graph.nodes()) {
    label = std::string(OpName(n->op));
    const auto& in = n->operands;
    // The block table when the node's %pos carries one (hand-written graphs may give just the position).
    auto block_table = [&](int pos_operand) -> const int32_t* {
      return BlockTablePages(*in[pos_operand]) > 0 ? pos_ + 1 : nullptr;
    };
    auto pos_stride = [&](int pos_operand) { return PosStride(*in[pos_operand]); };
    auto f16 = [&](int cache_operand) { return in[cache_operand]->type.dtype == DType::kF16; };
    auto out = [&](int i) { return Buffer(p, n->results[i]); };
    auto act = [&](int i) { return Buffer(p, in[i]); };
    switch (n->op) {
      case OpKind::kEmbedding: {
        ASSIGN_OR_RETURN(DeviceWeight t, Weight(in[1]));
        const auto* a = std::get_if<EmbeddingAttrs>(&n->attrs);
        const cuda::EmbeddingParams e{tokens_, Rows(n->results[0]), t.ptr,   t.type,
                                      Cols(in[1]), out(0),           a != nullptr ? a->scale : 1.0f};
        add([e](cudaStream_t s) { return Check(cuda::LaunchEmbedding(e, s), "embedding"); });
        break;
      }
      case OpKind::kRmsNorm:
      case OpKind::kFusedResidualRmsNorm: {
        const bool fused = n->op == OpKind::kFusedResidualRmsNorm;
        const Value* weight = in[fused ? 2 : 1];
        ASSIGN_OR_RETURN(DeviceWeight w, Weight(weight));
        // A weight narrower than the row normalises each head-wide slice on its own: more, shorter rows.
        const int width = static_cast<int>(weight->type.shape[0]);
        const cuda::RmsNormParams r{act(0), fused ? act(1) : nullptr, fused ? out(0) : nullptr, w.ptr, w.type,
                                    Rows(in[0]) * (Cols(in[0]) / width), width,
                                    std::get<RmsNormAttrs>(n->attrs).eps, out(fused ? 1 : 0)};
        add([r](cudaStream_t s) { return Check(cuda::LaunchRmsNorm(r, s), "rms_norm"); });
        break;
      }
      case OpKind::kMatmul:
      case OpKind::kMultiMatmul: {
        std::vector<const Value*> ws(in.begin() + 1, in.end());
        std::vector<float*> ys;
        for (size_t i = 0; i < n->results.size(); ++i) ys.push_back(out(i));
        RETURN_IF_ERROR(matmuls(in[0], ws, ys));
        break;
      }
      case OpKind::kFusedGateUpSwiglu: {
        ASSIGN_OR_RETURN(const bool batched, small_batch(in[0], {in[1], in[2]}, {out(0)}, {}, nullptr, true));
        if (batched) break;
        if (Rows(in[0]) == 1) {
          ASSIGN_OR_RETURN(DeviceWeight g, Weight(in[1]));
          ASSIGN_OR_RETURN(DeviceWeight u, Weight(in[2]));
          RET_CHECK(g.type == u.type, "gate and up weights differ in dtype");
          const cuda::GateUpParams gu{act(0), Cols(in[0]), g.type, g.ptr, u.ptr, Rows(in[1]), out(0)};
          add([gu](cudaStream_t s) { return Check(cuda::LaunchGateUpSwiglu(gu, s), "gate_up"); });
        } else {
          const int64_t count = Elements(n->results[0]);
          ASSIGN_OR_RETURN(void* gate, scratch(count * 4, "prefill gate"));
          ASSIGN_OR_RETURN(void* up, scratch(count * 4, "prefill up"));
          RETURN_IF_ERROR(matmuls(in[0], {in[1], in[2]}, {static_cast<float*>(gate), static_cast<float*>(up)}));
          const cuda::SwigluParams sw{static_cast<float*>(gate), static_cast<float*>(up), count, out(0)};
          add([sw](cudaStream_t s) { return Check(cuda::LaunchSwiglu(sw, s), "swiglu"); });
        }
        break;
      }
      case OpKind::kFusedNormMatmul:
      case OpKind::kFusedNormGateUpSwiglu: {
        ASSIGN_OR_RETURN(DeviceWeight g, Weight(in[1]));
        const cuda::NormPrologue norm{g.ptr, g.type, std::get<RmsNormAttrs>(n->attrs).eps};
        std::vector<const Value*> ws(in.begin() + 2, in.end());
        if (n->op == OpKind::kFusedNormMatmul) {
          std::vector<float*> ys;
          for (size_t i = 0; i < n->results.size(); ++i) ys.push_back(out(i));
          RETURN_IF_ERROR(matmuls(in[0], ws, ys, norm));
          break;
        }
        ASSIGN_OR_RETURN(const bool batched, small_batch(in[0], ws, {out(0)}, norm, nullptr, true));
        if (batched) break;
        if (Rows(in[0]) == 1) {
          ASSIGN_OR_RETURN(DeviceWeight wg, Weight(in[2]));
          ASSIGN_OR_RETURN(DeviceWeight wu, Weight(in[3]));
          const cuda::GateUpParams gu{act(0), Cols(in[0]), wg.type, wg.ptr, wu.ptr, Rows(in[2]), out(0), norm};
          add([gu](cudaStream_t s) { return Check(cuda::LaunchGateUpSwiglu(gu, s), "gate_up"); });
        } else {
          const int64_t count = Elements(n->results[0]);
          ASSIGN_OR_RETURN(void* gate, scratch(count * 4, "prefill gate"));
          ASSIGN_OR_RETURN(void* up, scratch(count * 4, "prefill up"));
          RETURN_IF_ERROR(matmuls(in[0], ws, {static_cast<float*>(gate), static_cast<float*>(up)}, norm));
          const cuda::SwigluParams sw{static_cast<float*>(gate), static_cast<float*>(up), count, out(0)};
          add([sw](cudaStream_t s) { return Check(cuda::LaunchSwiglu(sw, s), "swiglu"); });
        }
        break;
      }
      case OpKind::kFusedMatmulResidual:
        RETURN_IF_ERROR(matmuls(in[0], {in[1]}, {out(0)}, {}, act(2)));
        break;
      case OpKind::kAdd: {
        const bool bias = in[1]->type.shape.size() == 1;
        cuda::AddParams a{act(0), nullptr, bias, WeightType::kF32, Rows(in[0]), Cols(in[0]), out(0)};
        if (bias) {
          ASSIGN_OR_RETURN(DeviceWeight b, Weight(in[1]));
          a.b = b.ptr;
          a.bias_type = b.type;
        } else {
          a.b = act(1);
        }
        add([a](cudaStream_t s) { return Check(cuda::LaunchAdd(a, s), "add"); });
        break;
      }
      case OpKind::kRope: {
        const auto& r = std::get<RopeAttrs>(n->attrs);
        const cuda::RopeShape shape{r.theta, r.dims, r.head_dim, r.neox};
        ASSIGN_OR_RETURN(const cuda::RopeTable table, rope_table(n, r));
        const cuda::RopeParams rp{shape, table, act(0), out(0), Rows(in[0]), Cols(in[0]) / r.head_dim, pos_,
                                  pos_stride(1)};
        add([rp](cudaStream_t s) { return Check(cuda::LaunchRope(rp, s), "rope"); });
        break;
      }
      case OpKind::kKvWrite: {
        const cuda::KvWriteParams kv{act(1), Rows(in[1]), Cols(in[1]), pos_, out(0), f16(0), block_table(2),
                                     pos_stride(2)};
        add([kv](cudaStream_t s) { return Check(cuda::LaunchKvWrite(kv, s), "kv_write"); });
        break;
      }
      case OpKind::kFusedBiasRope: {
        const auto& r = std::get<RopeAttrs>(n->attrs);
        const cuda::RopeShape shape{r.theta, r.dims, r.head_dim, r.neox};
        ASSIGN_OR_RETURN(const cuda::RopeTable table, rope_table(n, r));
        cuda::BiasRopeKvParams b{shape, table, act(0), act(1), act(2), nullptr, nullptr,
                                 nullptr, WeightType::kF32, Rows(in[0]), Cols(in[0]) / r.head_dim,
                                 Cols(in[1]) / r.head_dim, pos_, out(0), out(1), out(2)};
        b.f16_cache = f16(4);
        b.block_table = block_table(3);
        b.pos_stride = pos_stride(3);
        RETURN_IF_ERROR(bind_biases(n, {&b.bq, &b.bk, &b.bv}, &b.bias_type));
        add([b](cudaStream_t s) { return Check(cuda::LaunchBiasRopeKv(b, s), "bias_rope"); });
        break;
      }
      case OpKind::kFusedRopeAttention: {
        const auto& ra = std::get<RopeAttentionAttrs>(n->attrs);
        const AttentionAttrs& a = ra.attention;
        const int rows = Rows(in[0]);  // One token per sequence; the split as for one.
        const int splits = cuda::ChooseAttentionSplits(ctx_size_, a.heads);
        ASSIGN_OR_RETURN(void* partial, attention_scratch(rows, a, splits));
        cuda::AttentionParams ap{act(0), out(1), out(2), out(0), rows, a.heads, a.kv_heads, a.head_dim, a.scale,
                                 pos_, splits, partial};
        ap.softcap = a.softcap;
        ap.window = a.window;
        ap.f16_cache = f16(4);
        ap.block_table = block_table(3);
        ap.pos_stride = pos_stride(3);
        ap.group = AttentionGroup(ap);
        const cuda::RopeShape shape{ra.rope.theta, ra.rope.dims, ra.rope.head_dim, ra.rope.neox};
        ASSIGN_OR_RETURN(const cuda::RopeTable table, rope_table(n, ra.rope));
        ap.rope = {true, act(1), act(2), nullptr, nullptr, nullptr, WeightType::kF32, shape, table};
        RETURN_IF_ERROR(bind_biases(n, {&ap.rope.bq, &ap.rope.bk, &ap.rope.bv}, &ap.rope.bias_type));
        add([ap](cudaStream_t s) { return Check(cuda::LaunchAttention(ap, s), "rope_attention"); });
        break;
      }
      case OpKind::kAttention: {
        const auto& a = std::get<AttentionAttrs>(n->attrs);
        // The split of the KV length depends on the context alone, so a batched row's result does not depend
        // on the batch.
        cuda::AttentionParams ap{act(0), act(1), act(2), out(0), Rows(in[0]), a.heads, a.kv_heads,
                                 a.head_dim, a.scale, pos_, cuda::ChooseAttentionSplits(ctx_size_, a.heads), nullptr};
        ap.softcap = a.softcap;
        ap.window = a.window;
        ap.f16_cache = f16(1);
        ap.block_table = block_table(3);
        ap.pos_stride = pos_stride(3);
        ap.group = AttentionGroup(ap);
        if (!cuda::FlashAttentionSupports(ap)) {  // Flash attention keeps no partials.
          ASSIGN_OR_RETURN(ap.scratch, attention_scratch(Rows(in[0]), a, ap.splits));
        }
        add([ap](cudaStream_t s) { return Check(cuda::LaunchAttention(ap, s), "attention"); });
        break;
      }
      case OpKind::kSwiglu:
      case OpKind::kGeglu: {
        const cuda::SwigluParams sw{act(0), act(1), Elements(in[0]), out(0), n->op == OpKind::kGeglu};
        add([sw](cudaStream_t s) { return Check(cuda::LaunchSwiglu(sw, s), "glu"); });
        break;
      }
      case OpKind::kSoftcap: {
        const float* x = act(0);
        float* y = out(0);
        const int64_t count = Elements(in[0]);
        const float cap = std::get<SoftcapAttrs>(n->attrs).cap;
        add([x, count, cap, y](cudaStream_t s) { return Check(cuda::LaunchSoftcap(x, count, cap, y, s), "softcap"); });
        break;
      }
      case OpKind::kLastRow: {
        const int cols = Cols(in[0]);
        const float* src = act(0) + static_cast<int64_t>(Rows(in[0]) - 1) * cols;
        float* dst = out(0);
        add([src, cols, dst](cudaStream_t s) {
          return Check(cuda::LaunchCopy(src, cols, dst, s), "last_row");
        });
        break;
      }
      case OpKind::kArgmax: {
        cuda::ArgmaxParams am{act(0), nullptr, Cols(in[0]), reinterpret_cast<int32_t*>(out(0)), Rows(in[0])};
        const int64_t bytes = cuda::ArgmaxScratchBytes(am.rows, am.n);
        ASSIGN_OR_RETURN(am.scratch, scratch(bytes, "argmax partials"));
        CUDA_RETURN_IF_ERROR(cudaMemset(am.scratch, 0, bytes));
        add([am](cudaStream_t s) { return Check(cuda::LaunchArgmax(am, s), "argmax"); });
        break;
      }
      case OpKind::kFusedOutputArgmax: {
        ASSIGN_OR_RETURN(DeviceWeight w, Weight(in[1]));
        const int vocab = Rows(in[1]);
        ASSIGN_OR_RETURN(void* values, scratch(cuda::OutputArgmaxPartials(vocab) * 4, "argmax partial values"));
        ASSIGN_OR_RETURN(void* indices, scratch(cuda::OutputArgmaxPartials(vocab) * 4, "argmax partial indices"));
        const cuda::OutputArgmaxParams o{act(0), Cols(in[0]), w.type, w.ptr, vocab, static_cast<float*>(values),
                                         static_cast<int32_t*>(indices), reinterpret_cast<int32_t*>(out(0))};
        add([o](cudaStream_t s) { return Check(cuda::LaunchOutputArgmax(o, s), "output_argmax"); });
        break;
      }
    }
  }
  if (p.batch > 1) {
    // A batched step: the host uploads every row's token and record when the rows change, and takes the
    // rows' tokens from the mapped ring (or their logits, DecodeBatch, outside the captured graph). Graphs
    // that return logits also sample every row on the device, with the settings of the last upload. The
    // step ends by moving every row on, so that it can replay itself (DecodeBatch's run-ahead).
    if (!p.greedy) {
      label = "sample";
      const int vocab = Cols(p.output);
      ASSIGN_OR_RETURN(void* candidates,
                       scratch(cuda::SampleScratchBytes(vocab) * p.batch, "batched sampler candidates"));
      cuda::SampleParams sp{Buffer(p, p.output), vocab, batch_configs_, pos_, batch_sampled_, candidates,
                            nullptr, 1, nullptr};
      sp.rows = p.batch;
      sp.pos_stride = PosStride(*p.graph.FindValue("pos"));
      sp.windows = batch_windows_;
      sp.window_lens = batch_windows_ + int64_t{kMaxBatch} * cuda::kBatchRepeatWindow;
      add([sp](cudaStream_t s) { return Check(cuda::LaunchSample(sp, s), "sample"); });
    }
    label = "advance";
    cuda::BatchAdvanceParams adv{p.greedy ? reinterpret_cast<const int32_t*>(Buffer(p, p.output)) : batch_sampled_,
                                 tokens_, pos_, static_cast<int>(PosStride(*p.graph.FindValue("pos"))), p.batch,
                                 device_batch_ring_, kMaxBatch, batch_steps_on_device_};
    if (!p.greedy) {
      adv.windows = batch_windows_;
      adv.window_lens = batch_windows_ + int64_t{kMaxBatch} * cuda::kBatchRepeatWindow;
      adv.window = cuda::kBatchRepeatWindow;
    }
    add([adv](cudaStream_t s) { return Check(cuda::LaunchBatchAdvance(adv, s), "batch advance"); });
    return absl::OkStatus();
  }
  // The step's tail: advance the device-side token and position, and hand the result to the host: the
  // greedy decode step writes its token into the mapped ring, other graphs copy to pinned memory.
  const bool sample = !p.greedy && device_sampling_.has_value();
  p.returns_token = p.greedy || sample;
  p.uses_ring = p.returns_token && p.seq_len == 1;
  const int32_t* token = p.greedy ? reinterpret_cast<const int32_t*>(Buffer(p, p.output)) : sampled_token_;
  if (sample) {
    label = "sample";
    ASSIGN_OR_RETURN(void* candidates, scratch(cuda::SampleScratchBytes(Cols(p.output)), "sampler candidates"));
    const cuda::SampleParams sp{Buffer(p, p.output), Cols(p.output), sampler_config_, pos_, sampled_token_,
                                candidates, tokens_, p.seq_len, history_};
    add([sp](cudaStream_t s) { return Check(cuda::LaunchSample(sp, s), "sample"); });
  }
  label = "advance+copy";
  const cuda::AdvanceParams adv{p.returns_token ? token : nullptr, tokens_, pos_, p.seq_len,
                                p.uses_ring ? device_ring_ : nullptr};
  add([adv](cudaStream_t s) { return Check(cuda::LaunchAdvance(adv, s), "advance"); });
  if (p.uses_ring) return absl::OkStatus();
  const void* result = p.returns_token ? static_cast<const void*>(token) : Buffer(p, p.output);
  const size_t result_bytes = p.returns_token ? sizeof(int32_t) : p.output->type.bytes();
  add([this, result, result_bytes, returns_token = p.returns_token, logits = p.host_logits](cudaStream_t s) {
    void* dst = returns_token ? static_cast<void*>(host_token_) : static_cast<void*>(logits);
    CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst, result, result_bytes, cudaMemcpyDeviceToHost, s));
    return absl::OkStatus();
  });
  return absl::OkStatus();
}

absl::Status CudaExecutor::Enqueue(Prepared& p) {
  if (!profiling_) {
    for (const Launch& launch : p.launches) RETURN_IF_ERROR(launch.run(stream_));
    return absl::OkStatus();
  }
  std::vector<cudaEvent_t> events(p.launches.size() + 1);
  for (cudaEvent_t& e : events) CUDA_RETURN_IF_ERROR(cudaEventCreate(&e));
  CUDA_RETURN_IF_ERROR(cudaEventRecord(events[0], stream_));
  for (size_t i = 0; i < p.launches.size(); ++i) {
    RETURN_IF_ERROR(p.launches[i].run(stream_));
    CUDA_RETURN_IF_ERROR(cudaEventRecord(events[i + 1], stream_));
  }
  CUDA_RETURN_IF_ERROR(cudaEventSynchronize(events.back()));
  for (size_t i = 0; i < p.launches.size(); ++i) {
    float ms = 0;
    CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, events[i], events[i + 1]));
    ProfileEntry& e = profile_[p.launches[i].label];
    e.ms += ms;
    ++e.launches;
    e.flops += p.launches[i].flops;
  }
  for (cudaEvent_t e : events) cudaEventDestroy(e);
  return absl::OkStatus();
}

absl::StatusOr<StepOutput> CudaExecutor::Finish(Prepared& p, int pos) {
  CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  device_pos_ = pos + p.seq_len;
  StepOutput out;
  if (p.returns_token) {
    out.token = p.uses_ring ? reinterpret_cast<volatile int32_t*>(host_ring_)[pos & 1] : *host_token_;
    device_token_ = out.token;
  } else {
    out.logits = absl::MakeConstSpan(p.host_logits, Elements(p.output));
    device_token_ = -1;  // The host samples; the next step uploads its choice.
  }
  return out;
}

absl::Status CudaExecutor::DrainSpeculation() {
  if (!speculated_ && !batch_ahead_.has_value()) return absl::OkStatus();
  // The step ran ahead for nothing: wait for it. It only filled cache slots of its own sequences' pages at
  // positions a later step rewrites (or, for a sequence that has finished, that no one reads before its
  // pages are written again: the stream runs the later writes after it).
  CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  if (speculated_) {
    speculated_ = false;
    device_pos_ = speculated_pos_ + 1;
    device_token_ = -1;  // Whatever it picked; the next step uploads the caller's token.
  }
  batch_ahead_.reset();
  return absl::OkStatus();
}

absl::Status CudaExecutor::LaunchDecodeStep(Prepared& p, int pos) {
  RETURN_IF_ERROR(decode_graph_->Launch(stream_));
  CUDA_RETURN_IF_ERROR(cudaEventRecord(step_done_[pos & 1], stream_));
  return absl::OkStatus();
}

absl::Status CudaExecutor::Upload(absl::Span<const int32_t> pos, absl::Span<const int32_t> tokens) {
  // host_inputs_ is free: every upload waits for its copies.
  RET_CHECK(static_cast<int64_t>(pos.size()) <= pos_slots_ && static_cast<int64_t>(tokens.size()) <= token_slots_,
            "inputs larger than their device buffers");
  int32_t* host_pos = host_inputs_;
  int32_t* host_tokens = host_inputs_ + pos_slots_;
  std::copy(pos.begin(), pos.end(), host_pos);
  std::copy(tokens.begin(), tokens.end(), host_tokens);
  if (!pos.empty()) {
    CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(pos_, host_pos, pos.size() * sizeof(int32_t), cudaMemcpyHostToDevice, stream_));
  }
  if (!tokens.empty()) {
    CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(tokens_, host_tokens, tokens.size() * sizeof(int32_t), cudaMemcpyHostToDevice, stream_));
  }
  CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  return absl::OkStatus();
}

absl::StatusOr<StepOutput> CudaExecutor::PrefillSequence(absl::Span<const int32_t> tokens, int pos,
                                                         absl::Span<const int32_t> block_table) {
  RET_CHECK(!tokens.empty(), "prefill of zero tokens");
  RETURN_IF_ERROR(DrainSpeculation());
  RETURN_IF_ERROR(CheckSequence(pos, static_cast<int>(tokens.size()), block_table));
  ASSIGN_OR_RETURN(Prepared * p, GetGraph(static_cast<int>(tokens.size()), 1));
  RETURN_IF_ERROR(CheckTokens(tokens));
  RETURN_IF_ERROR(Upload(PositionRecord(pos, block_table), tokens));
  lone_table_on_device_ = block_table.data() == lone_table_.data();
  RETURN_IF_ERROR(Run(*p, capture_prefill_));
  return Finish(*p, pos);
}

absl::StatusOr<StepOutput> CudaExecutor::Decode(int32_t token, int pos) {
  if (pos < 0 || pos >= ctx_size_) {
    return absl::OutOfRangeError(absl::StrCat("position ", pos, " does not fit the context of ", ctx_size_,
                                              " tokens"));
  }
  ASSIGN_OR_RETURN(Prepared * p, GetGraph(1, 1));
  const bool replay = use_cuda_graph_ && decode_graph_ != nullptr && !profiling_ && p->uses_ring;
  if (replay && speculated_ && pos == speculated_pos_ && token == speculated_input_) {
    // Already running: speculate the step after it, then wait for this one.
    speculated_ = false;
    return FinishSpeculated(*p, pos);
  }
  RETURN_IF_ERROR(DrainSpeculation());
  if (!lone_table_on_device_) {
    RETURN_IF_ERROR(CheckTokens(absl::MakeConstSpan(&token, 1)));
    RETURN_IF_ERROR(Upload(PositionRecord(pos, lone_table_), absl::MakeConstSpan(&token, 1)));
    lone_table_on_device_ = true;
  } else if (token != device_token_ || pos != device_pos_) {
    RETURN_IF_ERROR(CheckTokens(absl::MakeConstSpan(&token, 1)));
    RETURN_IF_ERROR(Upload(absl::MakeConstSpan(&pos, 1), absl::MakeConstSpan(&token, 1)));
  }
  if (!use_cuda_graph_ || !decode_warmed_up_ || profiling_) {
    // Without graphs, and for the warm-up step that makes every allocation and handle before capture.
    RETURN_IF_ERROR(Enqueue(*p));
    decode_warmed_up_ = true;
  } else {
    if (decode_graph_ == nullptr) {
      ASSIGN_OR_RETURN(decode_graph_, CudaGraph::Capture(stream_, [&] { return Enqueue(*p); }));
    }
    if (p->uses_ring && !profiling_) {
      RETURN_IF_ERROR(LaunchDecodeStep(*p, pos));
      return FinishSpeculated(*p, pos);
    }
    RETURN_IF_ERROR(decode_graph_->Launch(stream_));
  }
  return Finish(*p, pos);
}

bool CudaExecutor::BatchAhead::Continues(absl::Span<const SequenceStep> next, int ctx) const {
  if (next.size() != rows.size()) return false;
  for (size_t r = 0; r < next.size(); ++r) {
    const SequenceStep& n = next[r];
    const Row& a = rows[r];
    // The device moved the row on only where its table has the page (else it masked the row).
    if (n.pos != a.pos || n.token != a.token || n.pos >= ctx || n.block_table.data() != a.table ||
        n.block_table.size() != a.table_size || n.block_table.size() <= static_cast<size_t>(n.pos / kKvPageSize) ||
        (n.sampler != nullptr) != a.sampler.has_value() || n.recent.size() != a.recent) {
      return false;
    }
    if (n.sampler != nullptr) {
      const SamplerOptions& x = *n.sampler;
      const SamplerOptions& y = *a.sampler;
      if (x.temperature != y.temperature || x.top_k != y.top_k || x.top_p != y.top_p || x.min_p != y.min_p ||
          x.repeat_penalty != y.repeat_penalty || x.repeat_last_n != y.repeat_last_n || x.seed != y.seed) {
        return false;
      }
    }
  }
  return true;
}

absl::Status CudaExecutor::Run(Prepared& p, bool capture) {
  if (!capture || profiling_ || p.runs++ == 0) return Enqueue(p);
  // Captured after one eager run, which makes every allocation and cuBLASLt choice.
  if (p.captured == nullptr) {
    ASSIGN_OR_RETURN(p.captured, CudaGraph::Capture(stream_, [&] { return Enqueue(p); }));
  }
  return p.captured->Launch(stream_);
}

absl::Status CudaExecutor::LaunchBatch(Prepared& p) {
  RETURN_IF_ERROR(Run(p, use_cuda_graph_));
  CUDA_RETURN_IF_ERROR(cudaEventRecord(batch_done_[batch_steps_ & 1], stream_));
  ++batch_steps_;
  return absl::OkStatus();
}

absl::StatusOr<BatchOutput> CudaExecutor::DecodeBatch(absl::Span<const SequenceStep> rows, bool run_ahead) {
  RET_CHECK(!device_sampling_.has_value(),
            "a batched step samples on the host; this executor was made to sample its lone sequence on the device");
  if (batch_ahead_.has_value() && batch_ahead_->Continues(rows, ctx_size_)) {
    // The step already runs: the one the last call started ahead.
    Prepared& p = *batch_ahead_->graph;
    const int64_t step = batch_ahead_->step;
    batch_ahead_.reset();
    ++batch_steps_ahead_used_;
    return FinishBatch(p, rows, step, run_ahead);
  }
  RETURN_IF_ERROR(DrainSpeculation());
  std::vector<int32_t> pos, tokens;
  RETURN_IF_ERROR(BuildBatchInputs(rows, &pos, &tokens));
  const int bucket = static_cast<int>(tokens.size());
  ASSIGN_OR_RETURN(Prepared * p, GetGraph(1, bucket));
  // Sampled on the device when every row says how (and its penalty window fits the device's).
  bool sample = !greedy_;
  for (const SequenceStep& row : rows) {
    sample &= row.sampler != nullptr && row.recent.size() <= static_cast<size_t>(cuda::kBatchRepeatWindow) &&
              (row.sampler->repeat_penalty == 1.0f || row.sampler->repeat_last_n <= cuda::kBatchRepeatWindow);
  }
  if (sample) {
    auto* configs = reinterpret_cast<cuda::SamplerConfig*>(host_sampling_);
    auto* windows = reinterpret_cast<int32_t*>(host_sampling_ + int64_t{kMaxBatch} * sizeof(cuda::SamplerConfig));
    int32_t* lens = windows + int64_t{kMaxBatch} * cuda::kBatchRepeatWindow;
    for (size_t r = 0; r < rows.size(); ++r) {
      const SamplerOptions& o = *rows[r].sampler;
      // Greedy is the top-1 draw (the penalty still applies first, as on the host).
      configs[r] = o.temperature > 0
                       ? cuda::SamplerConfig{o.temperature, o.top_k, o.top_p, o.min_p, o.seed, o.repeat_penalty,
                                             o.repeat_last_n}
                       : cuda::SamplerConfig{1.0f, 1, 1.0f, 0.0f, o.seed, o.repeat_penalty, o.repeat_last_n};
      // The window ring, keyed by position (ops/cuda/sampler.h): recent ends at the row's own position.
      const int len = static_cast<int>(rows[r].recent.size());
      for (int i = 0; i < len; ++i) {
        const int q = rows[r].pos - len + 1 + i;
        windows[r * cuda::kBatchRepeatWindow + q % cuda::kBatchRepeatWindow] = rows[r].recent[i];
      }
      lens[r] = len;
    }
    CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(batch_configs_, configs, rows.size() * sizeof(cuda::SamplerConfig),
                                         cudaMemcpyHostToDevice, stream_));
    CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(batch_windows_, windows,
                                         rows.size() * cuda::kBatchRepeatWindow * sizeof(int32_t),
                                         cudaMemcpyHostToDevice, stream_));
    CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(batch_windows_ + int64_t{kMaxBatch} * cuda::kBatchRepeatWindow, lens,
                                         rows.size() * sizeof(int32_t), cudaMemcpyHostToDevice, stream_));
  }
  RETURN_IF_ERROR(Upload(pos, tokens));  // Waits for the copies above too.
  lone_table_on_device_ = false;
  device_token_ = -1, device_pos_ = -1;
  RETURN_IF_ERROR(LaunchBatch(*p));
  if (greedy_ || sample) return FinishBatch(*p, rows, batch_steps_ - 1, run_ahead);
  BatchOutput result;
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(p->host_logits, Buffer(*p, p->output), rows.size() * n_vocab_ * sizeof(float),
                                       cudaMemcpyDeviceToHost, stream_));
  CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  result.logits = absl::MakeConstSpan(p->host_logits, rows.size() * n_vocab_);
  return result;
}

absl::StatusOr<BatchOutput> CudaExecutor::FinishBatch(Prepared& p, absl::Span<const SequenceStep> rows, int64_t step,
                                                      bool run_ahead) {
  // Step `step` of these rows is in flight. Where asked, queue the next one behind it before waiting: the
  // captured graph feeds itself (tokens, positions, sampler windows), so the GPU goes on while the host
  // reads the tokens.
  if (run_ahead && use_cuda_graph_ && p.captured != nullptr && !profiling_) {
    BatchAhead ahead;
    ahead.graph = &p;
    ahead.step = batch_steps_;
    for (const SequenceStep& row : rows) {
      BatchAhead::Row a{row.pos + 1, -1, row.block_table.data(), row.block_table.size(), std::nullopt,
                        row.recent.empty() ? 0 : std::min(row.recent.size() + 1, size_t{cuda::kBatchRepeatWindow})};
      if (row.sampler != nullptr) a.sampler = *row.sampler;
      ahead.rows.push_back(a);
    }
    RETURN_IF_ERROR(LaunchBatch(p));
    batch_ahead_ = std::move(ahead);
  }
  CUDA_RETURN_IF_ERROR(cudaEventSynchronize(batch_done_[step & 1]));
  const volatile int32_t* slot = batch_ring_ + (step & 1) * kMaxBatch;
  for (size_t r = 0; r < rows.size(); ++r) p.host_tokens[r] = slot[r];
  if (batch_ahead_.has_value()) {
    for (size_t r = 0; r < rows.size(); ++r) batch_ahead_->rows[r].token = p.host_tokens[r];
  }
  BatchOutput result;
  result.tokens = absl::MakeConstSpan(p.host_tokens, rows.size());
  return result;
}

absl::StatusOr<StepOutput> CudaExecutor::FinishSpeculated(Prepared& p, int pos) {
  // Step `pos` is in flight: queue step pos + 1 behind it before waiting, so the GPU never idles while
  // the host reads the token.
  if (pos + 1 < ctx_size_) {
    RETURN_IF_ERROR(LaunchDecodeStep(p, pos + 1));
    speculated_ = true;
    speculated_pos_ = pos + 1;
  }
  CUDA_RETURN_IF_ERROR(cudaEventSynchronize(step_done_[pos & 1]));
  StepOutput out;
  out.token = reinterpret_cast<volatile int32_t*>(host_ring_)[pos & 1];
  speculated_input_ = out.token;
  if (speculated_) {
    device_token_ = -1, device_pos_ = pos + 2;  // After the speculated step, which picked an unknown token.
  } else {
    device_token_ = out.token, device_pos_ = pos + 1;
  }
  return out;
}

}  // namespace ggrt
