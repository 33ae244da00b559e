// A captured CUDA Graph: record a sequence of launches on a stream once, replay it with one call.
#ifndef GGRT_RUNTIME_CUDA_GRAPH_H_
#define GGRT_RUNTIME_CUDA_GRAPH_H_

#include <functional>
#include <memory>

#include <cuda_runtime_api.h>

#include "absl/status/statusor.h"

namespace ggrt {

class CudaGraph {
 public:
  // Records everything `record` enqueues on `stream` (nothing executes while recording).
  static absl::StatusOr<std::unique_ptr<CudaGraph>> Capture(cudaStream_t stream,
                                                            const std::function<absl::Status()>& record);
  ~CudaGraph();

  absl::Status Launch(cudaStream_t stream) const;
  size_t node_count() const { return nodes_; }

 private:
  CudaGraph() = default;
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
  size_t nodes_ = 0;
};

}  // namespace ggrt

#endif  // GGRT_RUNTIME_CUDA_GRAPH_H_
