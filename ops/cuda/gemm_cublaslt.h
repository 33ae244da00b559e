// Prefill matrix products through cuBLASLt: y[S, n] = x[S, k] W[n, k]^T with W in its file dtype. For f16
// and bf16 weights, x is first converted to that type (tensor-core inputs) and the product accumulates and
// is written in f32; f32 weights use plain f32 math.
#ifndef GGRT_OPS_CUDA_GEMM_CUBLASLT_H_
#define GGRT_OPS_CUDA_GEMM_CUBLASLT_H_

#include <array>
#include <cstdint>
#include <memory>
#include <tuple>
#include <vector>

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "ops/cuda/types.h"

namespace ggrt::cuda {

struct GemmParams {
  const void* x;  // [rows, k], already in `type` (f32 for f32 weights)
  const void* w;  // [n, k]
  WeightType type;
  int rows;
  int k;
  int n;
  float* y;  // [rows, n]
  const float* accumulate = nullptr;  // Optional [rows, n] added to the product (a residual).
  // Several products of the same shape over the same x in one launch (gate with up, k with v: twice the
  // blocks of a short prompt's product, which one product's tiles leave mostly idle): weight i at
  // w + i * w_stride elements, its result at y + i * y_stride floats. Not with `accumulate`.
  int batch = 1;
  int64_t w_stride = 0;
  int64_t y_stride = 0;
};

// Not thread-safe: one per executor.
class CublasLtGemm {
 public:
  // Creates the handle and a workspace; both before any graph capture.
  static absl::StatusOr<std::unique_ptr<CublasLtGemm>> Create();
  ~CublasLtGemm();

  absl::Status Run(const GemmParams& p, cudaStream_t stream);

 private:
  // The descriptors and the algorithm of one shape, made on its first product and kept: making them costs
  // the host more than launching the product (a prefill run kernel by kernel makes ~100 products).
  struct Plan;
  using Shape = std::tuple<WeightType, int, int, int, int, int64_t, int64_t>;  // type, rows, k, n, batch, strides
  using Weights = std::tuple<WeightType, int, int, int>;                       // type, k, n, batch
  // An algorithm (its opaque bytes) for a weight shape, and the rows it was checked at.
  using Candidate = std::tuple<Weights, std::array<uint64_t, 8>, int>;

  CublasLtGemm() = default;
  static absl::Status Describe(Plan& d, cudaDataType_t type, int rows, int k, int n, int batch, int64_t w_stride,
                               int64_t y_stride);
  // On a stream that is not being captured, the plan takes the fastest algorithm for its rows among those
  // whose results are bit for bit the weight shape's own algorithm's (Tune); otherwise (and until then) that
  // algorithm.
  absl::StatusOr<const Plan*> PlanFor(const GemmParams& p, cudaStream_t stream);
  absl::Status Tune(const GemmParams& p, Plan& d, cudaStream_t stream);
  // Whether `candidate` gives the bits of `reference` for this weight shape (random operands of 64 rows), kept
  // per algorithm.
  absl::StatusOr<bool> SameBits(const GemmParams& p, const cublasLtMatmulAlgo_t& reference,
                                const cublasLtMatmulAlgo_t& candidate, cudaStream_t stream);
  // One algorithm per weight shape, whatever the rows, and without a split-k reduction: each row's result is
  // then the same in a product of any number of rows (a sequence's prefill alone or batched with others).
  absl::StatusOr<cublasLtMatmulAlgo_t> AlgorithmFor(const GemmParams& p, cublasLtMatmulDesc_t op,
                                                    cublasLtMatrixLayout_t a);
  // The heuristic's first `wanted` algorithms for these descriptors, none with a split-k reduction.
  absl::StatusOr<std::vector<cublasLtMatmulHeuristicResult_t>> Candidates(cublasLtMatmulDesc_t op,
                                                                          cublasLtMatrixLayout_t a,
                                                                          cublasLtMatrixLayout_t b,
                                                                          cublasLtMatrixLayout_t c, int wanted);
  absl::StatusOr<cublasLtMatmulAlgo_t> Heuristic(cublasLtMatmulDesc_t op, cublasLtMatrixLayout_t a, int rows, int k,
                                                 int n, int batch, cudaDataType_t type);

  cublasLtHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  absl::flat_hash_map<Shape, std::unique_ptr<Plan>> plans_;
  absl::flat_hash_map<Weights, cublasLtMatmulAlgo_t> algorithms_;
  absl::flat_hash_map<Candidate, bool> same_bits_;
};

}  // namespace ggrt::cuda

#endif  // GGRT_OPS_CUDA_GEMM_CUBLASLT_H_
