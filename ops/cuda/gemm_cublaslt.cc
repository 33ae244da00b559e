#include "ops/cuda/gemm_cublaslt.h"

#include "base/status_macros.h"
#include "ops/cuda/cuda_status.h"

namespace ggrt::cuda {
namespace {

constexpr size_t kWorkspaceBytes = 32 << 20;

cudaDataType_t DataType(WeightType t) {
  switch (t) {
    case WeightType::kF32: return CUDA_R_32F;
    case WeightType::kF16: return CUDA_R_16F;
    case WeightType::kBF16: return CUDA_R_16BF;
    default: break;  // Block formats are dequantized before a product (Run refuses them).
  }
  return CUDA_R_32F;
}

// A layout of `count` matrices `stride` elements apart (0: the same matrix each time).
cublasStatus_t SetBatch(cublasLtMatrixLayout_t layout, int count, int64_t stride) {
  if (count == 1) return CUBLAS_STATUS_SUCCESS;
  const int32_t c = count;
  cublasStatus_t status = cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &c, sizeof(c));
  if (status != CUBLAS_STATUS_SUCCESS) return status;
  return cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
                                          sizeof(stride));
}

}  // namespace

struct CublasLtGemm::Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  ~Plan() {
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

absl::StatusOr<std::unique_ptr<CublasLtGemm>> CublasLtGemm::Create() {
  std::unique_ptr<CublasLtGemm> g(new CublasLtGemm());
  CUBLAS_RETURN_IF_ERROR(cublasLtCreate(&g->handle_));
  CUDA_RETURN_IF_ERROR(cudaMalloc(&g->workspace_, kWorkspaceBytes));
  g->workspace_bytes_ = kWorkspaceBytes;
  return g;
}

CublasLtGemm::~CublasLtGemm() {
  if (workspace_) cudaFree(workspace_);
  if (handle_) cublasLtDestroy(handle_);
}

absl::StatusOr<cublasLtMatmulAlgo_t> CublasLtGemm::Heuristic(cublasLtMatmulDesc_t op, cublasLtMatrixLayout_t a,
                                                             int rows, int k, int n, int batch,
                                                             cudaDataType_t type) {
  cublasLtMatrixLayout_t b = nullptr, c = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  cublasLtMatmulHeuristicResult_t heuristic;
  int found = 0;
  const uint32_t no_reduction = CUBLASLT_REDUCTION_SCHEME_NONE;
  cublasStatus_t status = cublasLtMatrixLayoutCreate(&b, type, k, rows, k);
  if (status == CUBLAS_STATUS_SUCCESS) status = SetBatch(b, batch, 0);
  if (status == CUBLAS_STATUS_SUCCESS) status = cublasLtMatrixLayoutCreate(&c, CUDA_R_32F, n, rows, n);
  if (status == CUBLAS_STATUS_SUCCESS) status = SetBatch(c, batch, static_cast<int64_t>(n) * rows);
  if (status == CUBLAS_STATUS_SUCCESS) status = cublasLtMatmulPreferenceCreate(&pref);
  if (status == CUBLAS_STATUS_SUCCESS) {
    status = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes_,
                                                  sizeof(workspace_bytes_));
  }
  if (status == CUBLAS_STATUS_SUCCESS) {
    status = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &no_reduction,
                                                  sizeof(no_reduction));
  }
  if (status == CUBLAS_STATUS_SUCCESS) {
    status = cublasLtMatmulAlgoGetHeuristic(handle_, op, a, b, c, c, pref, 1, &heuristic, &found);
  }
  if (pref) cublasLtMatmulPreferenceDestroy(pref);
  if (c) cublasLtMatrixLayoutDestroy(c);
  if (b) cublasLtMatrixLayoutDestroy(b);
  CUBLAS_RETURN_IF_ERROR(status);
  RET_CHECK(found > 0, "cuBLASLt has no algorithm for a ", rows, "x", k, "x", n, " product");
  return heuristic.algo;
}

absl::StatusOr<cublasLtMatmulAlgo_t> CublasLtGemm::AlgorithmFor(const GemmParams& p, cublasLtMatmulDesc_t op,
                                                                cublasLtMatrixLayout_t a) {
  const Weights weights{p.type, p.k, p.n, p.batch};
  if (auto it = algorithms_.find(weights); it != algorithms_.end()) return it->second;
  // Chosen for a full prefill chunk's rows.
  constexpr int kReferenceRows = 512;
  ASSIGN_OR_RETURN(const cublasLtMatmulAlgo_t algo,
                   Heuristic(op, a, kReferenceRows, p.k, p.n, p.batch, DataType(p.type)));
  algorithms_[weights] = algo;
  return algo;
}

absl::StatusOr<const CublasLtGemm::Plan*> CublasLtGemm::PlanFor(const GemmParams& p) {
  const Shape shape{p.type, p.rows, p.k, p.n, p.batch, p.w_stride, p.y_stride};
  if (auto it = plans_.find(shape); it != plans_.end()) return it->second.get();
  // Column-major view: W [n, k] row-major is a k x n matrix (ld k), x is k x rows, y is n x rows. So
  // y = op(W)^T x with op = transpose.
  auto d = std::make_unique<Plan>();
  const cudaDataType_t type = DataType(p.type);
  CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescCreate(&d->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t trans = CUBLAS_OP_T, no_trans = CUBLAS_OP_N;
  CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulDescSetAttribute(d->op, CUBLASLT_MATMUL_DESC_TRANSA, &trans, sizeof(trans)));
  CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulDescSetAttribute(d->op, CUBLASLT_MATMUL_DESC_TRANSB, &no_trans, sizeof(no_trans)));
  CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&d->a, type, p.k, p.n, p.k));
  CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&d->b, type, p.k, p.rows, p.k));
  CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&d->c, CUDA_R_32F, p.n, p.rows, p.n));
  CUBLAS_RETURN_IF_ERROR(SetBatch(d->a, p.batch, p.w_stride));
  CUBLAS_RETURN_IF_ERROR(SetBatch(d->b, p.batch, 0));
  CUBLAS_RETURN_IF_ERROR(SetBatch(d->c, p.batch, p.y_stride));
  ASSIGN_OR_RETURN(d->algo, AlgorithmFor(p, d->op, d->a));
  cublasLtMatmulHeuristicResult_t check;
  if (cublasLtMatmulAlgoCheck(handle_, d->op, d->a, d->b, d->c, d->c, &d->algo, &check) != CUBLAS_STATUS_SUCCESS ||
      check.workspaceSize > workspace_bytes_) {
    // The shape's algorithm cannot take these rows: this product's own (its rows may then differ in the last
    // bits from the same rows in a product of another size).
    ASSIGN_OR_RETURN(d->algo, Heuristic(d->op, d->a, p.rows, p.k, p.n, p.batch, type));
  }
  return (plans_[shape] = std::move(d)).get();
}

absl::Status CublasLtGemm::Run(const GemmParams& p, cudaStream_t stream) {
  RET_CHECK(!IsQuantized(p.type), "cuBLASLt products read f32, f16 or bf16 weights; decode blocks first");
  RET_CHECK(p.batch >= 1 && (p.batch == 1 || (p.accumulate == nullptr && p.w_stride > 0 && p.y_stride > 0)),
            "a batch of products takes positive strides and no accumulation");
  ASSIGN_OR_RETURN(const Plan* d, PlanFor(p));
  const float alpha = 1.0f, beta = p.accumulate != nullptr ? 1.0f : 0.0f;
  const void* c = p.accumulate != nullptr ? p.accumulate : p.y;
  CUBLAS_RETURN_IF_ERROR(cublasLtMatmul(handle_, d->op, &alpha, p.w, d->a, p.x, d->b, &beta, c, d->c, p.y, d->c,
                                        &d->algo, workspace_, workspace_bytes_, stream));
  return absl::OkStatus();
}

}  // namespace ggrt::cuda
