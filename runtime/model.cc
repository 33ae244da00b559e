#include "runtime/model.h"

#include <algorithm>

#include <unistd.h>

#include <cuda_runtime_api.h>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "graph/lower_model.h"
#include "loader/load_tokenizer.h"
#include "runtime/cpu_executor.h"
#include "runtime/cuda_executor.h"

namespace ggrt {

absl::StatusOr<Backend> BackendFromName(absl::string_view name) {
  if (name == "cpu") return Backend::kCpu;
  if (name == "cuda") return Backend::kCuda;
  if (name == "auto") return Backend::kAuto;
  return absl::InvalidArgumentError(absl::StrCat("unknown backend '", name, "' (cpu, cuda, auto)"));
}

int64_t KvCacheBytes(const ModelConfig& c, int64_t ctx) {
  return 2 * static_cast<int64_t>(c.n_layers) * ctx * c.kv_dim() * static_cast<int64_t>(sizeof(float));
}

GraphFactory MakeGraphFactory(const GgufFile& file, const ModelConfig& config, int ctx_size,
                              const PipelineSelection& passes, bool greedy) {
  return [&file, config, ctx_size, passes, greedy](int seq_len) -> absl::StatusOr<Graph> {
    ASSIGN_OR_RETURN(Graph g, LowerModel(config, file, {.seq_len = seq_len, .ctx_size = ctx_size, .greedy = greedy}));
    ASSIGN_OR_RETURN(PassPipeline pipeline, BuildPipeline(passes));
    RETURN_IF_ERROR(pipeline.Run(g));
    return g;
  };
}

absl::StatusOr<LoadedModel> LoadModel(const ModelOptions& options) {
  LoadedModel m;
  ASSIGN_OR_RETURN(m.file, GgufFile::Open(options.path));
  ASSIGN_OR_RETURN(m.config, ModelConfigFromGguf(*m.file));
  ASSIGN_OR_RETURN(m.tokenizer, LoadTokenizer(*m.file));
  RET_CHECK(m.tokenizer->n_vocab() == m.config.n_vocab, options.path, ": the vocabulary has ",
            m.tokenizer->n_vocab(), " tokens but token_embd.weight has ", m.config.n_vocab, " rows");
  RET_CHECK(options.ctx_size >= 0, "--ctx-size must not be negative");

  Backend backend = options.backend;
  if (backend == Backend::kAuto) backend = CudaAvailable() ? Backend::kCuda : Backend::kCpu;
  if (backend == Backend::kCuda && !CudaAvailable()) {
    return absl::FailedPreconditionError("--backend=cuda, but no CUDA device is available");
  }

  m.ctx_size = options.ctx_size > 0 ? options.ctx_size : m.config.n_ctx;
  if (options.ctx_size == 0) {
    // Keep the KV cache within what the backend's memory holds next to the weights.
    int64_t budget = 0;
    std::string where;
    if (backend == Backend::kCuda) {
      size_t free_bytes = 0, total = 0;
      cudaMemGetInfo(&free_bytes, &total);
      int64_t weights = 0;
      for (const GgufTensorInfo& t : m.file->tensors()) weights += t.bytes;
      budget = static_cast<int64_t>(free_bytes) - weights - (int64_t{2} << 30);
      where = "free GPU memory after the weights and 2 GiB of headroom";
    } else {
      budget = static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGE_SIZE) / 4;
      where = "a quarter of the machine's memory";
    }
    const int64_t per_token = KvCacheBytes(m.config, 1);
    if (KvCacheBytes(m.config, m.ctx_size) > budget) {
      const int capped = static_cast<int>(std::max<int64_t>(budget / per_token, 256));
      m.note = absl::StrCat("context capped from ", m.ctx_size, " to ", capped, " tokens to keep the KV cache within ",
                            where, "; set --ctx-size to choose");
      m.ctx_size = capped;
    }
  }
  GraphFactory factory = MakeGraphFactory(*m.file, m.config, m.ctx_size, options.passes, options.greedy);
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
  return m;
}

}  // namespace ggrt
