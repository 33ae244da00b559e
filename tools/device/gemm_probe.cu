// Which cuBLASLt algorithm a prefill product should take. CublasLtGemm keeps one algorithm per weight shape,
// whatever the rows (so that a row's result is the same in a product of any size), chosen by the heuristic for
// 512 rows without a split-k reduction; bench's trace of a 128-token prefill (session 38) put its products at
// 0.7 TB/s of weights. For each of Qwen2.5-0.5B's prefill weight shapes, alone and as a strided batch of two
// weights sharing x (gate with up, k with v), this times every algorithm the heuristic offers for 128, 512 and
// 2048 rows (with and without split-k reductions that go through the workspace) at 16 to 2048 rows, weights
// rotated over copies past the L2, and prints each row count's time for: the heuristic's pick at 512 rows (what
// ggrt runs today), the fastest algorithm there, and the algorithm valid at every row count whose times summed
// relative to each row count's fastest are least.
//
// Not part of the build (a device probe): on this machine
//   mkdir -p .stage2 && nvcc -O3 -std=c++17 -I. -gencode=arch=compute_90a,code=sm_90a -o .stage2/gemm_probe \
//     tools/device/gemm_probe.cu -lcublasLt
// then a device call that carries .stage2 runs it.
#include <cublasLt.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "tools/device/probe.h"

namespace {

#define CHECK_CUBLAS(call)                                                        \
  do {                                                                            \
    const cublasStatus_t st_ = (call);                                            \
    if (st_ != CUBLAS_STATUS_SUCCESS) {                                           \
      std::fprintf(stderr, "%s:%d %s: %d\n", __FILE__, __LINE__, #call, (int)st_); \
      std::exit(1);                                                               \
    }                                                                             \
  } while (0)

constexpr size_t kWorkspace = 32 << 20;
constexpr int kRows[] = {16, 128, 512, 2048};
constexpr int kRowCounts = sizeof(kRows) / sizeof(kRows[0]);
constexpr int kMaxRows = 2048;

struct Shape {
  const char* name;
  int k, n, batch;
};

// The descriptors of y[rows, n] = x[rows, k] W[n, k]^T as CublasLtGemm makes them (column-major: W is k x n with
// op T, x k x rows, y n x rows in f32), for `batch` weights `w_stride` elements apart sharing x.
struct Desc {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  Desc(const Shape& s, int rows, int64_t w_stride) {
    CHECK_CUBLAS(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t t = CUBLAS_OP_T, n = CUBLAS_OP_N;
    CHECK_CUBLAS(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof(t)));
    CHECK_CUBLAS(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &n, sizeof(n)));
    CHECK_CUBLAS(cublasLtMatrixLayoutCreate(&a, CUDA_R_16F, s.k, s.n, s.k));
    CHECK_CUBLAS(cublasLtMatrixLayoutCreate(&b, CUDA_R_16F, s.k, rows, s.k));
    CHECK_CUBLAS(cublasLtMatrixLayoutCreate(&c, CUDA_R_32F, s.n, rows, s.n));
    if (s.batch > 1) {
      const int32_t count = s.batch;
      const int64_t zero = 0, y_stride = static_cast<int64_t>(s.n) * rows;
      for (auto* l : {a, b, c}) {
        CHECK_CUBLAS(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
      }
      CHECK_CUBLAS(cublasLtMatrixLayoutSetAttribute(a, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &w_stride,
                                                    sizeof(w_stride)));
      CHECK_CUBLAS(
          cublasLtMatrixLayoutSetAttribute(b, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &zero, sizeof(zero)));
      CHECK_CUBLAS(cublasLtMatrixLayoutSetAttribute(c, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &y_stride,
                                                    sizeof(y_stride)));
    }
  }
  ~Desc() {
    cublasLtMatrixLayoutDestroy(c);
    cublasLtMatrixLayoutDestroy(b);
    cublasLtMatrixLayoutDestroy(a);
    cublasLtMatmulDescDestroy(op);
  }
};

std::vector<cublasLtMatmulAlgo_t> Heuristics(cublasLtHandle_t h, const Desc& d, uint32_t reductions) {
  cublasLtMatmulPreference_t pref;
  CHECK_CUBLAS(cublasLtMatmulPreferenceCreate(&pref));
  CHECK_CUBLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &kWorkspace,
                                                    sizeof(kWorkspace)));
  CHECK_CUBLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &reductions,
                                                    sizeof(reductions)));
  cublasLtMatmulHeuristicResult_t r[16];
  int found = 0;
  cublasLtMatmulAlgoGetHeuristic(h, d.op, d.a, d.b, d.c, d.c, pref, 16, r, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  std::vector<cublasLtMatmulAlgo_t> out;
  for (int i = 0; i < found; ++i) out.push_back(r[i].algo);
  return out;
}

bool Same(const cublasLtMatmulAlgo_t& a, const cublasLtMatmulAlgo_t& b) { return !std::memcmp(&a, &b, sizeof(a)); }

}  // namespace

int main() {
  cublasLtHandle_t h;
  CHECK_CUBLAS(cublasLtCreate(&h));
  cudaStream_t stream;
  CHECK_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  void* workspace;
  CHECK_CUDA(cudaMalloc(&workspace, kWorkspace));
  const Shape shapes[] = {{"q / attn_out", 896, 896, 1}, {"k / v", 896, 128, 1},   {"k + v", 896, 128, 2},
                          {"gate / up", 896, 4864, 1},   {"gate + up", 896, 4864, 2}, {"ffn_down", 4864, 896, 1}};
  __half* x;
  float* y;
  CHECK_CUDA(cudaMalloc(&x, static_cast<size_t>(kMaxRows) * 4864 * 2));
  CHECK_CUDA(cudaMalloc(&y, static_cast<size_t>(kMaxRows) * 4864 * 2 * 4));
  CHECK_CUDA(cudaMemset(x, 0, static_cast<size_t>(kMaxRows) * 4864 * 2));
  for (const Shape& s : shapes) {
    // Weight copies past the L2 (each batch's weights adjacent), rotated launch by launch as a prefill's layers are.
    const size_t weights = static_cast<size_t>(s.n) * s.k * s.batch;
    const int copies = static_cast<int>(std::max<size_t>(4, (256u << 20) / (weights * 2)));
    __half* w;
    CHECK_CUDA(cudaMalloc(&w, weights * 2 * copies));
    CHECK_CUDA(cudaMemset(w, 0, weights * 2 * copies));
    const int64_t w_stride = static_cast<int64_t>(s.n) * s.k;
    std::vector<cublasLtMatmulAlgo_t> candidates;
    cublasLtMatmulAlgo_t today{};
    for (int ref : {128, 512, 2048}) {
      for (uint32_t mask : {uint32_t{CUBLASLT_REDUCTION_SCHEME_NONE},
                            uint32_t{CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE | CUBLASLT_REDUCTION_SCHEME_OUTPUT_TYPE}}) {
        Desc d(s, ref, w_stride);
        const auto found = Heuristics(h, d, mask);
        if (ref == 512 && mask == CUBLASLT_REDUCTION_SCHEME_NONE && !found.empty()) today = found[0];
        for (const auto& a : found) {
          bool seen = false;
          for (const auto& c : candidates) seen |= Same(a, c);
          if (!seen) candidates.push_back(a);
        }
      }
    }
    // us[candidate][row count], 0 where the algorithm cannot take the rows.
    std::vector<std::vector<float>> us(candidates.size(), std::vector<float>(kRowCounts, 0.0f));
    for (int r = 0; r < kRowCounts; ++r) {
      Desc d(s, kRows[r], w_stride);
      for (size_t i = 0; i < candidates.size(); ++i) {
        cublasLtMatmulHeuristicResult_t check;
        if (cublasLtMatmulAlgoCheck(h, d.op, d.a, d.b, d.c, d.c, &candidates[i], &check) != CUBLAS_STATUS_SUCCESS ||
            check.workspaceSize > kWorkspace) {
          continue;
        }
        const float alpha = 1.0f, beta = 0.0f;
        constexpr int kLaunches = 20;
        CHECK_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
        bool ok = true;
        for (int l = 0; l < kLaunches && ok; ++l) {
          ok = cublasLtMatmul(h, d.op, &alpha, w + (l % copies) * weights, d.a, x, d.b, &beta, y, d.c, y, d.c,
                              &candidates[i], workspace, kWorkspace, stream) == CUBLAS_STATUS_SUCCESS;
        }
        cudaGraph_t graph;
        CHECK_CUDA(cudaStreamEndCapture(stream, &graph));
        if (!ok) {
          CHECK_CUDA(cudaGraphDestroy(graph));
          continue;
        }
        us[i][r] = 1e3f * MsPerReplay(graph, 3, 10, stream) / kLaunches;
      }
    }
    int today_index = -1, balanced = -1;
    float balanced_score = 1e30f;
    std::vector<float> best(kRowCounts, 1e30f);
    for (size_t i = 0; i < candidates.size(); ++i) {
      if (Same(candidates[i], today)) today_index = static_cast<int>(i);
      for (int r = 0; r < kRowCounts; ++r) {
        if (us[i][r] > 0) best[r] = std::min(best[r], us[i][r]);
      }
    }
    for (size_t i = 0; i < candidates.size(); ++i) {
      float score = 0;
      for (int r = 0; r < kRowCounts; ++r) score += us[i][r] > 0 ? us[i][r] / best[r] : 1e6f;
      if (score < balanced_score) balanced_score = score, balanced = static_cast<int>(i);
    }
    std::printf("\n%s: k %d, n %d x %d, %zu algorithms\n| rows | today (512's pick) | fastest | balanced (#%d) |\n",
                s.name, s.k, s.n, s.batch, candidates.size(), balanced);
    for (int r = 0; r < kRowCounts; ++r) {
      std::printf("| %d | %.2f | %.2f | %.2f |\n", kRows[r], today_index >= 0 ? us[today_index][r] : -1.0f, best[r],
                  balanced >= 0 ? us[balanced][r] : -1.0f);
    }
    CHECK_CUDA(cudaFree(w));
  }
  return 0;
}
