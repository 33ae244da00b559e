#include "runtime/model.h"

#include <algorithm>

#include <unistd.h>

#include <cuda_runtime_api.h>

#include "absl/strings/str_cat.h"
#include "base/memory.h"
#include "base/quote.h"
#include "base/status_macros.h"
#include "graph/lower_model.h"
#include "loader/load_tokenizer.h"
#include "ops/kv_pages.h"
#include "runtime/cpu_executor.h"
#include "ops/cuda/cuda_status.h"
#include "runtime/cuda_executor.h"

namespace ggrt {

absl::StatusOr<Backend> BackendFromName(absl::string_view name) {
  if (name == "cpu") return Backend::kCpu;
  if (name == "cuda") return Backend::kCuda;
  if (name == "auto") return Backend::kAuto;
  return absl::InvalidArgumentError(absl::StrCat("unknown backend '", name, "' (cpu, cuda, auto)"));
}

int64_t ResidentWeightBytes(const GgufFile& file, Backend backend) {
  int64_t bytes = 0;
  for (const GgufTensorInfo& t : file.tensors()) {
    bytes += backend == Backend::kCuda ? t.bytes : t.elements() * static_cast<int64_t>(sizeof(float));
  }
  return bytes;
}

int64_t KvCacheBytes(const ModelConfig& c, int64_t ctx, DType kv_type, Backend backend) {
  const int64_t element = backend == Backend::kCuda && kv_type == DType::kF16 ? 2 : 4;
  return 2 * static_cast<int64_t>(c.n_layers) * KvPages(ctx) * kKvPageSize * c.kv_dim() * element;
}

GraphFactory MakeGraphFactory(const GgufFile& file, const ModelConfig& config, const LowerOptions& lower,
                              const PipelineSelection& passes) {
  return [&file, config, lower, passes](int seq_len, int batch, bool spans) -> absl::StatusOr<Graph> {
    LowerOptions options = lower;
    options.seq_len = seq_len;
    options.batch = batch;
    options.spans = spans;
    ASSIGN_OR_RETURN(Graph g, LowerModel(config, file, options));
    ASSIGN_OR_RETURN(PassPipeline pipeline, BuildPipeline(passes));
    RETURN_IF_ERROR(pipeline.Run(g));
    return g;
  };
}

absl::StatusOr<LoadedModel> LoadModel(const ModelOptions& options) {
  LoadedModel m;
  ASSIGN_OR_RETURN(m.file, GgufFile::Open(options.path));
  ASSIGN_OR_RETURN(m.config, ModelConfigFromGguf(*m.file));
  RETURN_IF_ERROR(AddFusedTensorViews(m.config, *m.file));
  ASSIGN_OR_RETURN(m.tokenizer, LoadTokenizer(*m.file));
  RET_CHECK(m.tokenizer->n_vocab() == m.config.n_vocab, options.path, ": the vocabulary has ",
            m.tokenizer->n_vocab(), " tokens but token_embd.weight has ", m.config.n_vocab, " rows");
  RET_CHECK(options.ctx_size >= 0, "--ctx-size must not be negative");

  Backend backend = options.backend;
  if (backend == Backend::kAuto) backend = CudaAvailable() ? Backend::kCuda : Backend::kCpu;
  if (backend == Backend::kCuda && !CudaAvailable()) {
    return absl::FailedPreconditionError("--backend=cuda, but no CUDA device is available");
  }

  RET_CHECK(options.ctx_size <= kMaxContext, "--ctx-size ", options.ctx_size, " is larger than ", kMaxContext);
  RET_CHECK(options.kv_type == DType::kF16 || options.kv_type == DType::kF32, "the KV cache is f16 or f32, not ",
            DTypeName(options.kv_type));
  auto kv_bytes = [&](int64_t ctx) { return KvCacheBytes(m.config, ctx, options.kv_type, backend); };

  // What the weights and KV cache may take: free device memory less headroom for the CUDA context, cuBLAS
  // and scratch, or the host memory this process can still take less headroom for activations.
  int64_t available = 0;
  std::string where;
  if (backend == Backend::kCuda) {
    size_t free_bytes = 0, total = 0;
    CUDA_RETURN_IF_ERROR(cudaMemGetInfo(&free_bytes, &total));
    available = static_cast<int64_t>(free_bytes) - (int64_t{2} << 30);
    where = "of free GPU memory (less 2 GiB of headroom)";
  } else {
    available = HostMemoryAvailable() - (int64_t{128} << 20);
    where = "of host memory (less 128 MiB of headroom)";
  }
  const int64_t weights = ResidentWeightBytes(*m.file, backend);
  RETURN_IF_ERROR(CheckFits(absl::StrCat("the weights of ", Quote(options.path)), weights, available, where));
  if (options.ctx_size > 0) {
    m.ctx_size = options.ctx_size;
    RETURN_IF_ERROR(CheckFits(absl::StrCat("--ctx-size ", m.ctx_size, ": a KV cache of ", m.ctx_size, " tokens (",
                                           FormatBytes(kv_bytes(m.ctx_size)), ") beside the weights (",
                                           FormatBytes(weights), ")"),
                              weights + kv_bytes(m.ctx_size), available, where));
  } else {
    m.ctx_size = std::min(m.config.n_ctx, kDefaultMaxContext);
    if (m.ctx_size < m.config.n_ctx) {
      m.note = absl::StrCat("context set to ", m.ctx_size, " of the model's ", m.config.n_ctx,
                            " tokens; --ctx-size chooses another");
    }
    // A default context takes at most half of what is left after the weights.
    const int64_t fits = (available - weights) / 2 / kv_bytes(kKvPageSize) * kKvPageSize;
    if (fits < m.ctx_size) {
      constexpr int kMinContext = 256;
      RETURN_IF_ERROR(CheckFits(absl::StrCat("a KV cache of ", kMinContext, " tokens beside the weights (",
                                             FormatBytes(weights), ")"),
                                weights + 2 * kv_bytes(kMinContext), available, where));
      m.note = absl::StrCat("context capped from ", m.ctx_size, " to ", fits, " tokens to keep the KV cache within ",
                            "half ", where, " after the weights; --ctx-size chooses another");
      m.ctx_size = static_cast<int>(fits);
    }
  }
  RET_CHECK(options.kv_pool_tokens >= 0 && options.kv_pool_tokens <= kMaxContext, "--kv-pool ",
            options.kv_pool_tokens, " is out of range (0..", kMaxContext, ")");
  int kv_pool_pages = 0;
  if (options.kv_pool_tokens > 0) {
    RET_CHECK(options.kv_pool_tokens >= m.ctx_size, "--kv-pool ", options.kv_pool_tokens,
              " is smaller than the context of ", m.ctx_size, " tokens");
    // The pool beyond one context must fit too.
    const int64_t extra = kv_bytes(options.kv_pool_tokens) - kv_bytes(m.ctx_size);
    RETURN_IF_ERROR(CheckFits(absl::StrCat("--kv-pool ", options.kv_pool_tokens, ": a KV pool of ",
                                           FormatBytes(kv_bytes(options.kv_pool_tokens)), " beside the weights (",
                                           FormatBytes(weights), ")"),
                              weights + kv_bytes(m.ctx_size) + extra, available, where));
    kv_pool_pages = static_cast<int>(KvPages(options.kv_pool_tokens));
  }
  GraphFactory factory = MakeGraphFactory(*m.file, m.config,
                                          {.ctx_size = m.ctx_size,
                                           .kv_pool_pages = kv_pool_pages,
                                           .greedy = options.greedy,
                                           .all_logits = options.all_logits,
                                           .kv_type = options.kv_type},
                                          options.passes);
  if (backend == Backend::kCuda) {
    std::optional<cuda::SamplerConfig> device_sampling;
    if (!options.greedy && options.sampler && options.sampler->temperature > 0 &&
        (options.sampler->repeat_penalty == 1.0f || options.sampler->repeat_last_n <= cuda::kMaxRepeatWindow)) {
      const SamplerOptions& s = *options.sampler;
      device_sampling = cuda::SamplerConfig{.temperature = s.temperature,
                                            .top_k = s.top_k,
                                            .top_p = s.top_p,
                                            .min_p = s.min_p,
                                            .seed = s.seed,
                                            .repeat_penalty = s.repeat_penalty,
                                            // Only an unused window (penalty off) can exceed the limit.
                                            .repeat_last_n =
                                                std::clamp(s.repeat_last_n, 0, cuda::kMaxRepeatWindow)};
    }
    ASSIGN_OR_RETURN(m.executor,
                     CudaExecutor::Create(*m.file, std::move(factory), options.cuda_graph, device_sampling));
  } else {
    ASSIGN_OR_RETURN(m.executor, CpuExecutor::Create(*m.file, std::move(factory)));
  }
  RETURN_IF_ERROR(m.executor->LimitContext(m.ctx_size));
  return m;
}

}  // namespace ggrt
