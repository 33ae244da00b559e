// Prints the IR of a model after the pass pipeline (text or Graphviz), or before and after each pass.
//   dump_graph -m FILE.gguf [--passes=a,b | --no-fuse | --disable-passes=a,b] [--format=text|dot]
//              [--prefill N] [--batch B] [--greedy] [--ctx-size N] [--kv-pool N] [--dump-each]
// --prefill N with --batch B: the batched prefill of B sequences (N rows each).
#include <cstdio>

#include "base/status_macros.h"
#include "graph/dot.h"
#include "graph/lower_model.h"
#include "graph/memory_plan.h"
#include "graph/passes/registry.h"
#include "graph/printer.h"
#include "loader/model_config.h"
#include "ops/kv_pages.h"
#include "runtime/executor.h"
#include "tools/flags.h"

namespace ggrt {
namespace {

absl::Status Main(int argc, char** argv) {
  Flags flags;
  RETURN_IF_ERROR(flags.Parse(argc, argv,
                              {{{"-m", "--model"}}, {{"--passes"}}, {{"--no-fuse"}, false}, {{"--disable-passes"}},
                               {{"--format"}}, {{"--prefill"}}, {{"--batch"}}, {{"--greedy"}, false}, {{"--ctx-size"}},
                               {{"--kv-pool"}}, {{"--dump-each"}, false}}));
  RET_CHECK(flags.Has("--model"), "usage: dump_graph -m FILE.gguf [--passes=a,b|--no-fuse|--disable-passes=a,b] "
                                  "[--format=text|dot] [--prefill N] [--batch B] [--greedy] [--ctx-size N] "
                                  "[--kv-pool N] [--dump-each]");
  ASSIGN_OR_RETURN(const std::string format, flags.GetChoice("--format", {"text", "dot"}));
  LowerOptions lower{.greedy = flags.Has("--greedy")};
  RETURN_IF_ERROR(flags.GetInt("--prefill", &lower.seq_len, 1, kMaxContext));
  RETURN_IF_ERROR(flags.GetInt("--batch", &lower.batch, 1, kMaxBatch));
  RETURN_IF_ERROR(flags.GetInt("--ctx-size", &lower.ctx_size, 1, kMaxContext));
  int kv_pool = 0;  // Positions.
  RETURN_IF_ERROR(flags.GetInt("--kv-pool", &kv_pool, 1, kMaxContext));
  lower.kv_pool_pages = static_cast<int>(KvPages(kv_pool));
  ASSIGN_OR_RETURN(PipelineSelection selection,
                   PassSelectionFromFlags(flags.Has("--no-fuse"), flags.GetOptional("--passes"),
                                          flags.GetOptional("--disable-passes")));

  ASSIGN_OR_RETURN(auto file, GgufFile::Open(flags.Get("--model")));
  ASSIGN_OR_RETURN(ModelConfig config, ModelConfigFromGguf(*file));
  RETURN_IF_ERROR(AddFusedTensorViews(config, *file));
  ASSIGN_OR_RETURN(Graph graph, LowerModel(config, *file, lower));
  ASSIGN_OR_RETURN(PassPipeline pipeline, BuildPipeline(selection));
  auto print = [&](const Graph& g) {
    const std::string text = format == "dot" ? PrintDot(g) : PrintGraph(g);
    std::fwrite(text.data(), 1, text.size(), stdout);
  };
  if (flags.Has("--dump-each")) {
    pipeline.set_dump_hook([&](absl::string_view pass, absl::string_view when, const Graph& g) {
      std::printf("# %s pass '%s'\n", std::string(when).c_str(), std::string(pass).c_str());
      print(g);
    });
  }
  RETURN_IF_ERROR(pipeline.Run(graph));
  if (!flags.Has("--dump-each")) print(graph);
  ASSIGN_OR_RETURN(MemoryPlan plan, PlanMemory(graph));
  std::fprintf(stderr, "%zu nodes; activation arena %ld bytes (%ld without reuse)\n", graph.nodes().size(),
               plan.arena_bytes, plan.unshared_bytes);
  return absl::OkStatus();
}

}  // namespace
}  // namespace ggrt

int main(int argc, char** argv) { return ggrt::RunTool(ggrt::Main, argc, argv); }
