#include "ops/cuda/gemm_cublaslt.h"

#include <cstring>
#include <vector>

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
  bool tuned = false;  // Tune has chosen among the algorithms that give the same bits (or there is no choice).
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

absl::StatusOr<std::vector<cublasLtMatmulHeuristicResult_t>> CublasLtGemm::Candidates(
    cublasLtMatmulDesc_t op, cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c,
    int wanted) {
  cublasLtMatmulPreference_t pref = nullptr;
  const uint32_t no_reduction = CUBLASLT_REDUCTION_SCHEME_NONE;
  std::vector<cublasLtMatmulHeuristicResult_t> found(wanted);
  int count = 0;
  cublasStatus_t status = cublasLtMatmulPreferenceCreate(&pref);
  if (status == CUBLAS_STATUS_SUCCESS) {
    status = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes_,
                                                  sizeof(workspace_bytes_));
  }
  if (status == CUBLAS_STATUS_SUCCESS) {
    status = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &no_reduction,
                                                  sizeof(no_reduction));
  }
  if (status == CUBLAS_STATUS_SUCCESS) {
    status = cublasLtMatmulAlgoGetHeuristic(handle_, op, a, b, c, c, pref, wanted, found.data(), &count);
  }
  if (pref) cublasLtMatmulPreferenceDestroy(pref);
  CUBLAS_RETURN_IF_ERROR(status);
  found.resize(count);
  return found;
}

absl::StatusOr<cublasLtMatmulAlgo_t> CublasLtGemm::Heuristic(cublasLtMatmulDesc_t op, cublasLtMatrixLayout_t a,
                                                             int rows, int k, int n, int batch,
                                                             cudaDataType_t type) {
  cublasLtMatrixLayout_t b = nullptr, c = nullptr;
  cublasStatus_t status = cublasLtMatrixLayoutCreate(&b, type, k, rows, k);
  if (status == CUBLAS_STATUS_SUCCESS) status = SetBatch(b, batch, 0);
  if (status == CUBLAS_STATUS_SUCCESS) status = cublasLtMatrixLayoutCreate(&c, CUDA_R_32F, n, rows, n);
  if (status == CUBLAS_STATUS_SUCCESS) status = SetBatch(c, batch, static_cast<int64_t>(n) * rows);
  absl::StatusOr<std::vector<cublasLtMatmulHeuristicResult_t>> found = std::vector<cublasLtMatmulHeuristicResult_t>();
  if (status == CUBLAS_STATUS_SUCCESS) found = Candidates(op, a, b, c, 1);
  if (c) cublasLtMatrixLayoutDestroy(c);
  if (b) cublasLtMatrixLayoutDestroy(b);
  CUBLAS_RETURN_IF_ERROR(status);
  RETURN_IF_ERROR(found.status());
  RET_CHECK(!found->empty(), "cuBLASLt has no algorithm for a ", rows, "x", k, "x", n, " product");
  return (*found)[0].algo;
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

// The descriptors of y = x W^T for `rows` rows. Column-major view: W [n, k] row-major is a k x n matrix
// (ld k), x is k x rows, y is n x rows. So y = op(W)^T x with op = transpose.
absl::Status CublasLtGemm::Describe(Plan& d, cudaDataType_t type, int rows, int k, int n, int batch,
                                    int64_t w_stride, int64_t y_stride) {
  CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescCreate(&d.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t trans = CUBLAS_OP_T, no_trans = CUBLAS_OP_N;
  CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSA, &trans, sizeof(trans)));
  CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSB, &no_trans, sizeof(no_trans)));
  CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&d.a, type, k, n, k));
  CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&d.b, type, k, rows, k));
  CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&d.c, CUDA_R_32F, n, rows, n));
  CUBLAS_RETURN_IF_ERROR(SetBatch(d.a, batch, w_stride));
  CUBLAS_RETURN_IF_ERROR(SetBatch(d.b, batch, 0));
  CUBLAS_RETURN_IF_ERROR(SetBatch(d.c, batch, y_stride));
  return absl::OkStatus();
}

absl::StatusOr<const CublasLtGemm::Plan*> CublasLtGemm::PlanFor(const GemmParams& p, cudaStream_t stream) {
  const Shape shape{p.type, p.rows, p.k, p.n, p.batch, p.w_stride, p.y_stride};
  if (auto it = plans_.find(shape); it != plans_.end() && it->second->tuned) return it->second.get();
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  CUDA_RETURN_IF_ERROR(cudaStreamIsCapturing(stream, &capture));
  const bool tune = capture == cudaStreamCaptureStatusNone;
  if (auto it = plans_.find(shape); it != plans_.end()) {
    if (tune) RETURN_IF_ERROR(Tune(p, *it->second, stream));
    return it->second.get();
  }
  auto d = std::make_unique<Plan>();
  const cudaDataType_t type = DataType(p.type);
  RETURN_IF_ERROR(Describe(*d, type, p.rows, p.k, p.n, p.batch, p.w_stride, p.y_stride));
  ASSIGN_OR_RETURN(d->algo, AlgorithmFor(p, d->op, d->a));
  cublasLtMatmulHeuristicResult_t check;
  if (cublasLtMatmulAlgoCheck(handle_, d->op, d->a, d->b, d->c, d->c, &d->algo, &check) != CUBLAS_STATUS_SUCCESS ||
      check.workspaceSize > workspace_bytes_) {
    // The shape's algorithm cannot take these rows: this product's own (its rows may then differ in the last
    // bits from the same rows in a product of another size).
    ASSIGN_OR_RETURN(d->algo, Heuristic(d->op, d->a, p.rows, p.k, p.n, p.batch, type));
    d->tuned = true;
  }
  if (tune && !d->tuned) RETURN_IF_ERROR(Tune(p, *d, stream));
  return (plans_[shape] = std::move(d)).get();
}

namespace {

// Random operands of a product's type, finite and of moderate size (the bits of f16, bf16 or f32 values with
// a random sign and mantissa and magnitudes 2^-2 to 2^1), from a fixed seed.
std::vector<uint8_t> RandomOperand(WeightType type, int64_t elements, uint64_t seed) {
  const int size = type == WeightType::kF32 ? 4 : 2;
  std::vector<uint8_t> bytes(elements * size);
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int64_t i = 0; i < elements; ++i) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    const uint32_t r = static_cast<uint32_t>(state), sign = r >> 31, exp = (r >> 20) & 3;
    uint32_t bits;
    if (type == WeightType::kF16) {
      bits = sign << 15 | (13 + exp) << 10 | (r & 0x3FF);
    } else if (type == WeightType::kBF16) {
      bits = sign << 15 | (125 + exp) << 7 | (r & 0x7F);
    } else {
      bits = sign << 31 | (125 + exp) << 23 | (r & 0x7FFFFF);
    }
    std::memcpy(&bytes[i * size], &bits, size);
  }
  return bytes;
}

// Device buffers freed on every path out of SameBits.
struct DeviceBuffers {
  std::vector<void*> ptrs;
  ~DeviceBuffers() {
    for (void* p : ptrs) cudaFree(p);
  }
  absl::StatusOr<void*> Add(size_t bytes) {
    void* p = nullptr;
    CUDA_RETURN_IF_ERROR(cudaMalloc(&p, bytes));
    ptrs.push_back(p);
    return p;
  }
};

}  // namespace

absl::StatusOr<bool> CublasLtGemm::SameBits(const GemmParams& p, const cublasLtMatmulAlgo_t& reference,
                                            const cublasLtMatmulAlgo_t& candidate, cudaStream_t stream) {
  constexpr int kRows = 64;
  std::array<uint64_t, 8> id;
  static_assert(sizeof(id) == sizeof(candidate));
  std::memcpy(id.data(), &candidate, sizeof(id));
  const Candidate key{Weights{p.type, p.k, p.n, p.batch}, id, kRows};
  if (auto it = same_bits_.find(key); it != same_bits_.end()) return it->second;
  Plan d;
  const int64_t w_stride = int64_t{p.n} * p.k, y_stride = int64_t{p.n} * kRows;
  RETURN_IF_ERROR(Describe(d, DataType(p.type), kRows, p.k, p.n, p.batch, w_stride, y_stride));
  cublasLtMatmulHeuristicResult_t check;
  for (const cublasLtMatmulAlgo_t* a : {&reference, &candidate}) {
    if (cublasLtMatmulAlgoCheck(handle_, d.op, d.a, d.b, d.c, d.c, a, &check) != CUBLAS_STATUS_SUCCESS ||
        check.workspaceSize > workspace_bytes_) {
      return same_bits_[key] = false;
    }
  }
  const std::vector<uint8_t> x = RandomOperand(p.type, int64_t{kRows} * p.k, 1);
  const std::vector<uint8_t> w = RandomOperand(p.type, w_stride * p.batch, 2);
  const size_t y_bytes = y_stride * p.batch * 4;
  DeviceBuffers buffers;
  ASSIGN_OR_RETURN(void* dx, buffers.Add(x.size()));
  ASSIGN_OR_RETURN(void* dw, buffers.Add(w.size()));
  ASSIGN_OR_RETURN(void* y0, buffers.Add(y_bytes));
  ASSIGN_OR_RETURN(void* y1, buffers.Add(y_bytes));
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dx, x.data(), x.size(), cudaMemcpyHostToDevice, stream));
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dw, w.data(), w.size(), cudaMemcpyHostToDevice, stream));
  const float alpha = 1.0f, beta = 0.0f;
  CUBLAS_RETURN_IF_ERROR(cublasLtMatmul(handle_, d.op, &alpha, dw, d.a, dx, d.b, &beta, y0, d.c, y0, d.c, &reference,
                                        workspace_, workspace_bytes_, stream));
  CUBLAS_RETURN_IF_ERROR(cublasLtMatmul(handle_, d.op, &alpha, dw, d.a, dx, d.b, &beta, y1, d.c, y1, d.c, &candidate,
                                        workspace_, workspace_bytes_, stream));
  std::vector<uint8_t> h0(y_bytes), h1(y_bytes);
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(h0.data(), y0, y_bytes, cudaMemcpyDeviceToHost, stream));
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(h1.data(), y1, y_bytes, cudaMemcpyDeviceToHost, stream));
  CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  return same_bits_[key] = h0 == h1;
}

absl::Status CublasLtGemm::Tune(const GemmParams& p, Plan& d, cudaStream_t stream) {
  d.tuned = true;
  // The product's own operands, timed in place: x is written by the kernels queued before it. The timed runs
  // write y without reading a residual, so a product whose residual is y itself keeps the shape's algorithm.
  if (p.accumulate != nullptr && p.accumulate == p.y) return absl::OkStatus();
  CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  constexpr int kWanted = 16;
  ASSIGN_OR_RETURN(const std::vector<cublasLtMatmulHeuristicResult_t> found,
                   Candidates(d.op, d.a, d.b, d.c, kWanted));
  cudaEvent_t start, stop;
  CUDA_RETURN_IF_ERROR(cudaEventCreate(&start));
  CUDA_RETURN_IF_ERROR(cudaEventCreate(&stop));
  auto time = [&](const cublasLtMatmulAlgo_t& algo) -> absl::StatusOr<float> {
    constexpr int kWarmups = 2, kTimed = 5;
    const float alpha = 1.0f, beta = 0.0f;
    for (int i = 0; i < kWarmups + kTimed; ++i) {
      if (i == kWarmups) CUDA_RETURN_IF_ERROR(cudaEventRecord(start, stream));
      CUBLAS_RETURN_IF_ERROR(cublasLtMatmul(handle_, d.op, &alpha, p.w, d.a, p.x, d.b, &beta, p.y, d.c, p.y, d.c,
                                            &algo, workspace_, workspace_bytes_, stream));
    }
    CUDA_RETURN_IF_ERROR(cudaEventRecord(stop, stream));
    CUDA_RETURN_IF_ERROR(cudaEventSynchronize(stop));
    float ms = 0;
    CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, start, stop));
    return ms;
  };
  absl::Status result = [&]() -> absl::Status {
    const cublasLtMatmulAlgo_t reference = d.algo;
    ASSIGN_OR_RETURN(float best, time(reference));
    for (const cublasLtMatmulHeuristicResult_t& f : found) {
      const cublasLtMatmulAlgo_t& a = f.algo;
      if (std::memcmp(&a, &reference, sizeof(a)) == 0 || f.workspaceSize > workspace_bytes_) continue;
      ASSIGN_OR_RETURN(const bool same, SameBits(p, reference, a, stream));
      if (!same) continue;
      ASSIGN_OR_RETURN(const float ms, time(a));
      // A clear margin, so that timing noise does not swap algorithms of the same speed.
      if (ms < 0.95f * best) best = ms, d.algo = a;
    }
    return absl::OkStatus();
  }();
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return result;
}

absl::Status CublasLtGemm::Run(const GemmParams& p, cudaStream_t stream) {
  RET_CHECK(!IsQuantized(p.type), "cuBLASLt products read f32, f16 or bf16 weights; decode blocks first");
  RET_CHECK(p.batch >= 1 && (p.batch == 1 || (p.accumulate == nullptr && p.w_stride > 0 && p.y_stride > 0)),
            "a batch of products takes positive strides and no accumulation");
  ASSIGN_OR_RETURN(const Plan* d, PlanFor(p, stream));
  const float alpha = 1.0f, beta = p.accumulate != nullptr ? 1.0f : 0.0f;
  const void* c = p.accumulate != nullptr ? p.accumulate : p.y;
  CUBLAS_RETURN_IF_ERROR(cublasLtMatmul(handle_, d->op, &alpha, p.w, d->a, p.x, d->b, &beta, c, d->c, p.y, d->c,
                                        &d->algo, workspace_, workspace_bytes_, stream));
  return absl::OkStatus();
}

}  // namespace ggrt::cuda
