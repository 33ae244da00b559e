#include "runtime/model.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "graph/lower_model.h"
#include "loader/load_tokenizer.h"
#include "runtime/cpu_executor.h"

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
  if (backend == Backend::kAuto) backend = Backend::kCpu;  // No CUDA backend is linked into this build.
  if (backend == Backend::kCuda) {
    return absl::UnimplementedError("the CUDA backend is not built into this binary");
  }

  m.ctx_size = options.ctx_size > 0 ? options.ctx_size : m.config.n_ctx;
  if (options.ctx_size == 0) {
    // Keep the KV cache within a quarter of the machine's memory.
    const int64_t budget = static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGE_SIZE) / 4;
    const int64_t per_token = KvCacheBytes(m.config, 1);
    if (KvCacheBytes(m.config, m.ctx_size) > budget) {
      const int capped = static_cast<int>(std::max<int64_t>(budget / per_token, 256));
      m.note = absl::StrCat("context capped from ", m.ctx_size, " to ", capped,
                            " tokens to keep the KV cache within a quarter of memory; set --ctx-size to choose");
      m.ctx_size = capped;
    }
  }
  GraphFactory factory = MakeGraphFactory(*m.file, m.config, m.ctx_size, options.passes, options.greedy);
  ASSIGN_OR_RETURN(m.executor, CpuExecutor::Create(*m.file, std::move(factory)));
  return m;
}

}  // namespace ggrt
