#include "runtime/cuda_executor.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "ops/cuda/cuda_status.h"
#include "ops/cuda/q8_0_rows.h"
#include "ops/kv_pages.h"
#include "runtime/cuda_values.h"

namespace ggrt {

const char* ScratchPurposeName(ScratchPurpose purpose) {
  switch (purpose) {
#define GGRT_SCRATCH_NAME(e, name) \
  case ScratchPurpose::e:          \
    return name;
    GGRT_SCRATCH_PURPOSES(GGRT_SCRATCH_NAME)
#undef GGRT_SCRATCH_NAME
  }
  return "scratch";
}

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

bool CudaExecutor::TakesQ8_0Rows(const Value* v) const { return q8_0_rows_.contains(v->name); }

int64_t CudaExecutor::DeviceBytes(const Value* v, const GgufTensorInfo& t) const {
  return TakesQ8_0Rows(v) ? Rows(v) * cuda::Q8_0RowBytes(v->type.shape[1]) : t.bytes;
}

absl::StatusOr<CudaExecutor::DeviceWeight> CudaExecutor::Weight(const Value* v) {
  if (auto it = device_weights_.find(v->name); it != device_weights_.end()) return it->second;
  ASSIGN_OR_RETURN(cuda::WeightType type, ToWeightType(v));
  ASSIGN_OR_RETURN(const GgufTensorInfo* t, weights_.GetTensor(v->name));
  const int64_t bytes = DeviceBytes(v, *t);
  void* p = nullptr;
  if (auto slot = weight_slots_.find(v->name); slot != weight_slots_.end()) {
    p = slot->second;
  } else {
    ASSIGN_OR_RETURN(p, Allocate(cuda::WeightAllocationBytes(bytes), absl::StrCat("weight '", v->name, "'"),
                                 &memory_.weights));
  }
  if (TakesQ8_0Rows(v)) {
    std::vector<uint8_t> rows(bytes);
    RETURN_IF_ERROR(cuda::RepackQ8_0Rows(static_cast<const uint8_t*>(t->data), Rows(v), v->type.shape[1],
                                         rows.data()));
    CUDA_RETURN_IF_ERROR(cudaMemcpy(p, rows.data(), bytes, cudaMemcpyHostToDevice));
    type = cuda::WeightType::kQ8_0R;
  } else {
    CUDA_RETURN_IF_ERROR(cudaMemcpy(p, t->data, t->bytes, cudaMemcpyHostToDevice));
  }
  return device_weights_[v->name] = DeviceWeight{p, type};
}

absl::Status CudaExecutor::AllocateArenas(const Graph& g) {
  // 256-byte slots: what cuBLASLt prefers, and more than the block-format kernels' 16.
  auto slot_bytes = [](int64_t bytes) { return (bytes + 255) / 256 * 256; };
  int64_t weight_bytes = 0, kv_bytes = 0;
  std::vector<std::pair<const Value*, int64_t>> weights, states;
  // Q8_0 matrices that go to the device in ggrt's row layout (ops/cuda/q8_0_rows.h), read by kernels of
  // their own (gemv_q8_0_rows.cu): the vocabulary (the embedding table and a separate output projection of
  // its shape, rows of at most kQ8_0RowsMaxK), and layer matrices with longer rows that only plain products
  // read (ffn_down; no norm before them), which the block formats' kernel stages through shared memory
  // (PERF_NOTES.md step 115). Every other weight keeps the file's bytes.
  std::vector<int64_t> vocabulary_shape;
  absl::flat_hash_set<const Value*> layer_rows, other_reads;
  for (const Node* n : g.nodes()) {
    if (n->op == OpKind::kEmbedding) vocabulary_shape = n->operands[1]->type.shape;
    const bool plain = (n->op == OpKind::kMatmul && n->operands.size() == 2) || n->op == OpKind::kFusedMatmulResidual;
    for (size_t i = 0; i < n->operands.size(); ++i) {
      const Value* v = n->operands[i];
      if (v->kind != ValueKind::kParam || v->type.dtype != DType::kQ8_0 || v->type.shape.size() != 2) continue;
      const int64_t k = v->type.shape[1];
      (plain && i == 1 && k > cuda::kQ8_0RowsMaxK && k % 32 == 0 ? layer_rows : other_reads).insert(v);
    }
  }
  for (const Value* v : g.params()) {
    if (v->type.dtype != DType::kQ8_0) continue;
    const bool vocabulary = v->type.shape == vocabulary_shape && cuda::Q8_0RowsFit(v->type.shape[1]);
    if (vocabulary || (layer_rows.contains(v) && !other_reads.contains(v))) q8_0_rows_.insert(v->name);
  }
  for (const Value* v : g.params()) {
    if (v->users.empty()) continue;  // Left behind by a pass.
    ASSIGN_OR_RETURN(const GgufTensorInfo* t, weights_.GetTensor(v->name));
    weights.emplace_back(v, weight_bytes);
    weight_bytes += slot_bytes(DeviceBytes(v, *t));
  }
  for (const Value* s : g.states()) {
    states.emplace_back(s, kv_bytes);
    kv_bytes += slot_bytes(s->type.bytes());
  }
  if (weight_bytes > 0) {
    ASSIGN_OR_RETURN(void* base, Allocate(weight_bytes, "the weights", &memory_.weights));
    for (const auto& [v, offset] : weights) weight_slots_[v->name] = static_cast<char*>(base) + offset;
  }
  if (kv_bytes > 0) {
    ASSIGN_OR_RETURN(void* base, Allocate(kv_bytes, "the KV cache", &memory_.kv_cache));
    CUDA_RETURN_IF_ERROR(cudaMemset(base, 0, kv_bytes));
    for (const auto& [s, offset] : states) {
      states_[s->name] = reinterpret_cast<float*>(static_cast<char*>(base) + offset);
    }
  }
  return absl::OkStatus();
}

float* CudaExecutor::Buffer(Prepared& p, const Value* v) {
  const Value* owner = BufferOwner(v);
  if (owner->kind == ValueKind::kState) return states_.at(owner->name);
  return reinterpret_cast<float*>(p.arena + p.plan.offsets.at(owner));
}

absl::StatusOr<CudaExecutor::Prepared*> CudaExecutor::GetGraph(int seq_len, int batch, bool spans) {
  if (auto it = graphs_.find({seq_len, batch, spans}); it != graphs_.end()) return it->second.get();
  ASSIGN_OR_RETURN(Graph g, factory_(seq_len, batch, spans));
  auto p = std::make_unique<Prepared>(std::move(g));
  p->seq_len = seq_len;
  p->batch = batch;
  p->spans = spans;
  ASSIGN_OR_RETURN(p->plan, PlanMemory(p->graph, 256));
  ASSIGN_OR_RETURN(void* arena, Allocate(p->plan.arena_bytes, absl::StrCat("the activations of graph '",
                                                                           p->graph.name(), "'"),
                                         &memory_.activations));
  p->arena = static_cast<char*>(arena);
  p->output = p->graph.outputs()[0];
  p->greedy = p->output->type.dtype == DType::kI32;
  if (!p->greedy) CUDA_RETURN_IF_ERROR(cudaMallocHost(&p->host_logits, Elements(p->output) * sizeof(float)));
  if (batch > 1 || spans) CUDA_RETURN_IF_ERROR(cudaMallocHost(&p->host_tokens, batch * sizeof(int32_t)));
  if (pos_ == nullptr) {  // The first graph, the lone decode step, gives the shapes.
    RETURN_IF_ERROR(InitShapes(p->graph));
    n_vocab_ = p->greedy ? 0 : Cols(p->output);
    token_slots_ = std::max({ctx_size_, kMaxBatch, kMaxPrefillRows});
    ASSIGN_OR_RETURN(void* tokens, Allocate(token_slots_ * sizeof(int32_t), "the token input", &memory_.scratch));
    // %pos: a record (the position, then the block table) per sequence of the largest batch.
    pos_slots_ = int64_t{kMaxBatch} * (1 + max_sequence_pages_);
    ASSIGN_OR_RETURN(void* pos, Allocate(pos_slots_ * sizeof(int32_t), "the positions and block tables",
                                         &memory_.scratch));
    ASSIGN_OR_RETURN(void* last, Allocate(kMaxBatch * sizeof(int32_t), "the batched prefill's last rows",
                                          &memory_.scratch));
    last_rows_ = static_cast<int32_t*>(last);
    CUDA_RETURN_IF_ERROR(cudaMallocHost(&host_inputs_, (pos_slots_ + token_slots_ + kMaxBatch) * sizeof(int32_t)));
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
    RETURN_IF_ERROR(AllocateArenas(p->graph));
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
  graphs_[{seq_len, batch, spans}] = std::move(p);
  return raw;
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

absl::Status CudaExecutor::Upload(absl::Span<const int32_t> pos, absl::Span<const int32_t> tokens,
                                  absl::Span<const int32_t> last) {
  // host_inputs_ is free: every upload waits for its copies.
  RET_CHECK(static_cast<int64_t>(pos.size()) <= pos_slots_ && static_cast<int64_t>(tokens.size()) <= token_slots_ &&
                last.size() <= static_cast<size_t>(kMaxBatch),
            "inputs larger than their device buffers");
  int32_t* host_pos = host_inputs_;
  int32_t* host_tokens = host_inputs_ + pos_slots_;
  int32_t* host_last = host_tokens + token_slots_;
  std::copy(pos.begin(), pos.end(), host_pos);
  std::copy(tokens.begin(), tokens.end(), host_tokens);
  std::copy(last.begin(), last.end(), host_last);
  if (!last.empty()) {
    CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(last_rows_, host_last, last.size() * sizeof(int32_t), cudaMemcpyHostToDevice, stream_));
  }
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

absl::StatusOr<BatchOutput> CudaExecutor::PrefillBatch(absl::Span<const PrefillChunk> chunks, int seq_len) {
  RETURN_IF_ERROR(DrainSpeculation());
  std::vector<int32_t> pos, tokens, last;
  RETURN_IF_ERROR(BuildPrefillInputs(chunks, seq_len, &pos, &tokens, &last));
  ASSIGN_OR_RETURN(Prepared * p, GetGraph(seq_len, static_cast<int>(chunks.size()), /*spans=*/true));
  RETURN_IF_ERROR(Upload(pos, tokens, last));
  lone_table_on_device_ = false;
  device_token_ = -1, device_pos_ = -1;
  // Captured like the batched decode steps: a caller's spans and batch sizes are few (the engine's are
  // multiples of 64 rows within its budget), unlike the exact lengths of single prefills.
  RETURN_IF_ERROR(Run(*p, use_cuda_graph_));
  CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  BatchOutput result;
  if (p->greedy) {
    result.tokens = absl::MakeConstSpan(p->host_tokens, chunks.size());
  } else {
    result.logits = absl::MakeConstSpan(p->host_logits, Elements(p->output));
  }
  return result;
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
        (n.sampler != nullptr) != a.sampler.has_value() || n.recent.size() != a.recent ||
        (n.sampler != nullptr && *n.sampler != *a.sampler)) {
      return false;
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
