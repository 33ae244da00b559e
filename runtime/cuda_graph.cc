#include "runtime/cuda_graph.h"

#include "absl/strings/str_cat.h"
#include "ops/cuda/cuda_status.h"

namespace ggrt {

absl::StatusOr<std::unique_ptr<CudaGraph>> CudaGraph::Capture(cudaStream_t stream,
                                                              const std::function<absl::Status()>& record) {
  std::unique_ptr<CudaGraph> g(new CudaGraph());
  CUDA_RETURN_IF_ERROR(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  const absl::Status recorded = record();
  const cudaError_t ended = cudaStreamEndCapture(stream, &g->graph_);
  if (!recorded.ok()) return absl::Status(recorded.code(), absl::StrCat("while capturing: ", recorded.message()));
  CUDA_RETURN_IF_ERROR(ended);
  CUDA_RETURN_IF_ERROR(cudaGraphGetNodes(g->graph_, nullptr, &g->nodes_));
  CUDA_RETURN_IF_ERROR(cudaGraphInstantiate(&g->exec_, g->graph_, 0));
  return g;
}

CudaGraph::~CudaGraph() {
  if (exec_) cudaGraphExecDestroy(exec_);
  if (graph_) cudaGraphDestroy(graph_);
}

absl::Status CudaGraph::Launch(cudaStream_t stream) const {
  CUDA_RETURN_IF_ERROR(cudaGraphLaunch(exec_, stream));
  return absl::OkStatus();
}

}  // namespace ggrt
