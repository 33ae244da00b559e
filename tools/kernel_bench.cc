// Times each decode kernel alone at Qwen2.5 shapes (and cuBLASLt on the same products, for comparison):
// 200 launches captured in a CUDA Graph, so the launch gaps are the graph's, and reports microseconds per
// launch and the bandwidth of the bytes it must move.
// Weights rotate over copies that together exceed the L2 cache, as in a real step where each matrix is
// read once from HBM.
//   kernel_bench [--preset qwen2.5-0.5b|qwen2.5-1.5b] [--ctx N] [--batch B,...] [--dtype q8_0|q4_k|...]
// --dtype times the one-row products with weights in that GGUF block format instead (with --batch, the
// batched products).
// --batch times the batched decode step's products (ops/cuda/small_batch_gemm) at each batch size instead.
// --only TEXT times only the rows whose name contains TEXT (e.g. to profile one kernel's first launch with
// Nsight Compute: `ncu --launch-count 1 kernel_bench --batch 2 --only "logits) [narrow]"`).
#include <algorithm>
#include <cstdio>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <cuda_runtime.h>

#include "absl/strings/str_cat.h"
#include "base/fp16.h"
#include "base/status_macros.h"
#include "loader/dtype.h"
#include "loader/quantize.h"
#include "ops/cuda/attention.h"
#include "ops/cuda/cuda_status.h"
#include "ops/cuda/elementwise.h"
#include "ops/cuda/gemm_cublaslt.h"
#include "ops/cuda/gemv.h"
#include "ops/cuda/q8_0_rows.h"
#include "ops/cuda/rms_norm.h"
#include "ops/cuda/rope.h"
#include "ops/cuda/small_batch_gemm.h"
#include "ops/cuda/weight_type_of.h"
#include "ops/kv_pages.h"
#include "tools/flags.h"
#include "tools/synthetic_model.h"

namespace ggrt {
namespace {

using cuda::WeightType;

class Bench {
 public:
  explicit Bench(std::string only) : only_(std::move(only)) {}
  ~Bench() {
    for (void* p : allocations_) cudaFree(p);
  }
  // Device memory filled with small random halves/floats (never zeros: they can run faster than data).
  void* Random(size_t bytes) {
    std::vector<uint16_t> host(bytes / 2);
    std::mt19937 rng(allocations_.size());
    std::uniform_real_distribution<float> d(-0.05f, 0.05f);
    for (uint16_t& h : host) h = FloatToFp16(d(rng));
    return Upload(host.data(), bytes);
  }
  // An [n, k] matrix in block format t: random rows quantized on the host (a few MB of them, repeated); with
  // `rows`, Q8_0 in ggrt's row layout (ops/cuda/q8_0_rows.h), as a Q8_0 vocabulary goes to the device.
  void* Quantized(DType t, int64_t n, int64_t k, bool rows = false) {
    const int64_t row_bytes = RowBytes(t, k), distinct = std::max<int64_t>(1, std::min<int64_t>(n, (1 << 22) / k));
    std::vector<uint8_t> host(n * row_bytes);
    std::vector<float> row(k);
    std::mt19937 rng(allocations_.size());
    std::uniform_real_distribution<float> d(-0.05f, 0.05f);
    for (int64_t r = 0; r < distinct; ++r) {
      for (float& v : row) v = d(rng);
      if (!QuantizeRow(t, row.data(), k, host.data() + r * row_bytes).ok()) std::abort();
    }
    for (int64_t r = distinct; r < n; ++r) {
      std::copy_n(host.data() + (r % distinct) * row_bytes, row_bytes, host.data() + r * row_bytes);
    }
    if (rows) {
      std::vector<uint8_t> repacked(n * cuda::Q8_0RowBytes(k));
      if (t != DType::kQ8_0 || !cuda::RepackQ8_0Rows(host.data(), n, k, repacked.data()).ok()) std::abort();
      return Upload(repacked.data(), repacked.size());
    }
    return Upload(host.data(), host.size());
  }
  template <typename T>
  T* Zeros(size_t n) {
    void* p = nullptr;
    if (cudaMalloc(&p, n * sizeof(T)) != cudaSuccess) std::abort();
    cudaMemset(p, 0, n * sizeof(T));
    allocations_.push_back(p);
    return static_cast<T*>(p);
  }

  // One table row: the name, then `extra` as a column of its own when given.
  absl::Status Time(const std::string& name, double bytes, const std::function<cudaError_t(cudaStream_t, int)>& launch,
                    const std::string& extra = "") {
    if (name.find(only_) == std::string::npos) return absl::OkStatus();
    constexpr int kLaunches = 200;
    cudaStream_t s;
    CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    CUDA_RETURN_IF_ERROR(launch(s, 0));  // Warm-up, and a launch error surfaces here.
    CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(s));
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    CUDA_RETURN_IF_ERROR(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    for (int i = 0; i < kLaunches; ++i) CUDA_RETURN_IF_ERROR(launch(s, i));
    CUDA_RETURN_IF_ERROR(cudaStreamEndCapture(s, &graph));
    CUDA_RETURN_IF_ERROR(cudaGraphInstantiate(&exec, graph, 0));
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    CUDA_RETURN_IF_ERROR(cudaGraphLaunch(exec, s));
    cudaEventRecord(a, s);
    for (int r = 0; r < 5; ++r) CUDA_RETURN_IF_ERROR(cudaGraphLaunch(exec, s));
    cudaEventRecord(b, s);
    CUDA_RETURN_IF_ERROR(cudaEventSynchronize(b));
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    const double us = 1e3 * ms / (5 * kLaunches);
    std::printf("| %-34s |%s %8.2f | %8.1f |\n", name.c_str(), extra.empty() ? "" : (" " + extra + " |").c_str(), us,
                bytes > 0 ? bytes / us / 1e3 : 0.0);
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    cudaStreamDestroy(s);
    return absl::OkStatus();
  }

 private:
  void* Upload(const void* host, size_t bytes) {
    void* p = nullptr;
    if (cudaMalloc(&p, cuda::WeightAllocationBytes(bytes)) != cudaSuccess) std::abort();
    cudaMemcpy(p, host, bytes, cudaMemcpyHostToDevice);
    allocations_.push_back(p);
    return p;
  }

  const std::string only_;
  std::vector<void*> allocations_;
};

constexpr int kVocab = 151936;  // Qwen2.5's.

// Activations for `rows` rows at the preset's shapes (inputs random, outputs zeroed) and the RMSNorm
// prologue the products take.
struct Activations {
  float *x, *y, *y2, *y3, *resid;
  void* norm_w;
  cuda::NormPrologue norm;

  static Activations Make(Bench& b, const SyntheticPreset& p, int rows) {
    const int e = p.n_embd, kv = p.n_kv_heads * (e / p.n_heads), ff = p.n_ff;
    Activations a;
    a.x = static_cast<float*>(b.Random(4l * rows * std::max(ff, e)));
    a.y = b.Zeros<float>(static_cast<size_t>(rows) * std::max(kVocab, 2 * ff));
    a.y2 = b.Zeros<float>(static_cast<size_t>(rows) * kv);
    a.y3 = b.Zeros<float>(static_cast<size_t>(rows) * kv);
    a.resid = static_cast<float*>(b.Random(4l * rows * e));
    a.norm_w = b.Random(4 * e);
    a.norm = {a.norm_w, WeightType::kF32, 1e-6f};
    return a;
  }
};

// One layer's decode weights in `dtype` (f16 or a block format quantize writes), kCopies times so that
// together they exceed L2, as in a real step where each matrix is read once from HBM, and the output
// matrix. Matrices whose rows are not whole blocks of the type are null (llama-quantize would not give
// them that type): their products are skipped.
struct DecodeWeights {
  static constexpr int kCopies = 12;
  struct Layer {
    void *wq = nullptr, *wk = nullptr, *wv = nullptr, *wo = nullptr, *wg = nullptr, *wu = nullptr, *wd = nullptr;
  };
  DType dtype;
  WeightType type;
  std::vector<Layer> layers;
  void* wout = nullptr;

  static absl::StatusOr<DecodeWeights> Make(Bench& b, const SyntheticPreset& p, const std::string& name) {
    DecodeWeights w;
    absl::StatusOr<DType> dtype = DTypeFromName(name);
    if (!dtype.ok()) return absl::InvalidArgumentError(absl::StrCat("--dtype: ", dtype.status().message()));
    w.dtype = *dtype;
    const std::optional<WeightType> type = cuda::WeightTypeOf(w.dtype);
    if (!type.has_value() || (w.dtype != DType::kF16 && !CanQuantize(w.dtype))) {
      return absl::InvalidArgumentError(absl::StrCat("--dtype ", name, ": not f16 or a block format quantize writes"));
    }
    w.type = *type;
    const int e = p.n_embd, q = p.n_heads * (e / p.n_heads), kv = p.n_kv_heads * (e / p.n_heads), ff = p.n_ff;
    auto make = [&](int64_t n, int64_t k) -> void* {
      if (k % BlockElements(w.dtype) != 0) return nullptr;
      return w.dtype == DType::kF16 ? b.Random(2 * n * k) : b.Quantized(w.dtype, n, k);
    };
    for (int c = 0; c < kCopies; ++c) {
      w.layers.push_back({make(q, e), make(kv, e), make(kv, e), make(e, q), make(ff, e), make(ff, e), make(e, ff)});
    }
    w.wout = make(kVocab, e);
    return w;
  }
  const Layer& L(int i) const { return layers[i % kCopies]; }
  double Bytes(int64_t n, int64_t k) const { return static_cast<double>(n * RowBytes(dtype, k)); }
};

constexpr int kMaxBenchSplits = 128;

// A decode step's products through cuBLASLt for `rows` rows (f16 weights), x already in f16. It has no norm
// prologue, SwiGLU, residual fixups or argmax, so those would cost extra launches on top. `prefix` starts each
// kernel's name; `batch` is Bench::Time's batch column (empty in the one-row table).
absl::Status CublasLtProducts(Bench& b, cuda::CublasLtGemm& gemm, const SyntheticPreset& p, const DecodeWeights& w,
                              const Activations& a, int rows, const std::string& prefix, const std::string& batch) {
  const int e = p.n_embd, hd = e / p.n_heads, q = p.n_heads * hd, kv = p.n_kv_heads * hd, ff = p.n_ff;
  const WeightType f16 = WeightType::kF16;
  auto L = [&](int i) -> const DecodeWeights::Layer& { return w.L(i); };
  const void* x16 = b.Random(2l * rows * std::max(ff, e));
  auto run = [&](const cuda::GemmParams& g, cudaStream_t s) {
    const absl::Status st = gemm.Run(g, s);
    if (!st.ok()) std::fprintf(stderr, "%s\n", st.ToString().c_str());
    return st.ok() ? cudaSuccess : cudaErrorUnknown;
  };
  RETURN_IF_ERROR(b.Time(prefix + "q, k, v (3 launches)", w.Bytes(q + 2 * kv, e), [&](cudaStream_t s, int i) {
    cudaError_t err = run({x16, L(i).wq, f16, rows, e, q, a.y}, s);
    if (err == cudaSuccess) err = run({x16, L(i).wk, f16, rows, e, kv, a.y2}, s);
    if (err == cudaSuccess) err = run({x16, L(i).wv, f16, rows, e, kv, a.y3}, s);
    return err;
  }, batch));
  RETURN_IF_ERROR(b.Time(prefix + "attn_out + residual", w.Bytes(e, q), [&](cudaStream_t s, int i) {
    return run({x16, L(i).wo, f16, rows, q, e, a.y, a.resid}, s);
  }, batch));
  RETURN_IF_ERROR(b.Time(prefix + "gate, up (2 launches)", w.Bytes(2 * ff, e), [&](cudaStream_t s, int i) {
    const cudaError_t err = run({x16, L(i).wg, f16, rows, e, ff, a.y}, s);
    return err == cudaSuccess ? run({x16, L(i).wu, f16, rows, e, ff, a.y + static_cast<int64_t>(rows) * ff}, s) : err;
  }, batch));
  RETURN_IF_ERROR(b.Time(prefix + "ffn_down + residual", w.Bytes(e, ff), [&](cudaStream_t s, int i) {
    return run({x16, L(i).wd, f16, rows, ff, e, a.y, a.resid}, s);
  }, batch));
  return b.Time(prefix + "output (logits, no argmax)", w.Bytes(kVocab, e), [&](cudaStream_t s, int) {
    return run({x16, w.wout, f16, rows, e, kVocab, a.y}, s);
  }, batch);
}

// The five products of a batched layer and the logits, as the batched decode graph runs them, per batch size.
absl::Status BatchedProducts(const SyntheticPreset& p, const std::vector<int>& batches, int ctx,
                             const std::string& dtype, const std::string& only) {
  const int e = p.n_embd, hd = e / p.n_heads, q = p.n_heads * hd, kv = p.n_kv_heads * hd, ff = p.n_ff;
  const int most = *std::max_element(batches.begin(), batches.end());
  Bench b(only);
  const Activations a = Activations::Make(b, p, most);
  ASSIGN_OR_RETURN(const DecodeWeights w, DecodeWeights::Make(b, p, dtype));
  auto L = [&](int i) -> const DecodeWeights::Layer& { return w.L(i); };
  ASSIGN_OR_RETURN(auto gemm, cuda::CublasLtGemm::Create());
  std::printf("%s %s, batched decode products (small-batch kernel)\n\n"
              "| product | batch | us | GB/s |\n|---|---|---|---|\n",
              p.name.c_str(), dtype.c_str());
  for (int rows : batches) {
    struct Product {
      std::string name;
      double bytes;
      std::function<cuda::SmallBatchGemmParams(int)> params;
    };
    const WeightType t = w.type;
    const Product products[] = {
        {"norm+qkv", w.Bytes(q + 2 * kv, e),
         [&](int i) {
           return cuda::SmallBatchGemmParams{a.x, rows, e, t, 3, {L(i).wq, L(i).wk, L(i).wv},
                                             {a.y, a.y2, a.y3}, {q, kv, kv}, a.norm};
         }},
        {"attn_out + residual", w.Bytes(e, q),
         [&](int i) {
           cuda::SmallBatchGemmParams g{a.x, rows, q, t, 1, {L(i).wo}, {a.y}, {e}};
           g.residual = a.resid;
           return g;
         }},
        {"norm+gate_up+swiglu", w.Bytes(2 * ff, e),
         [&](int i) {
           cuda::SmallBatchGemmParams g{a.x, rows, e, t, 2, {L(i).wg, L(i).wu}, {a.y}, {ff, ff}, a.norm};
           g.swiglu = true;
           return g;
         }},
        {"ffn_down + residual", w.Bytes(e, ff),
         [&](int i) {
           cuda::SmallBatchGemmParams g{a.x, rows, ff, t, 1, {L(i).wd}, {a.y}, {e}};
           g.residual = a.resid;
           return g;
         }},
        {"output (logits)", w.Bytes(kVocab, e),
         [&](int) { return cuda::SmallBatchGemmParams{a.x, rows, e, t, 1, {w.wout}, {a.y}, {kVocab}}; }},
    };
    // The kernel the step picks, then (f16/bf16) each of the two kernels forced.
    std::vector<std::pair<cuda::SmallBatchPath, std::string>> paths = {{cuda::SmallBatchPath::kAuto, ""}};
    if (!cuda::IsQuantized(t)) {
      paths.push_back({cuda::SmallBatchPath::kNarrow, " [narrow]"});
      paths.push_back({cuda::SmallBatchPath::kWide, " [wide]"});
    }
    for (const Product& product : products) {
      for (const auto& [path, suffix] : paths) {
        cuda::SmallBatchGemmParams g = product.params(0);
        if (g.w[0] == nullptr) continue;  // Rows not whole blocks of the type.
        void* scratch = b.Zeros<char>(std::max<int64_t>(cuda::SmallBatchGemmScratchBytes(g, path), 4));
        RETURN_IF_ERROR(b.Time(product.name + suffix, product.bytes, [&](cudaStream_t s, int i) {
          cuda::SmallBatchGemmParams launch = product.params(i);
          launch.scratch = scratch;
          return cuda::LaunchSmallBatchGemm(launch, s, path);
        }, absl::StrCat(rows)));
      }
    }
    if (t == WeightType::kF16) {
      // What a GEMM library makes of these shapes: the yardstick for the small-batch kernels at large
      // batches (not batch invariant, so the step cannot use it).
      RETURN_IF_ERROR(CublasLtProducts(b, *gemm, p, w, a, rows, "cuBLASLt ", absl::StrCat(rows)));
    }
    // The step's other per-layer kernel: RoPE-fused decode attention over each row's own pages (f16 cache,
    // `ctx` positions per row), and the greedy step's argmax over the logits.
    const int pages = static_cast<int>(KvPages(ctx)), stride = 1 + pages;
    std::vector<int32_t> records(static_cast<size_t>(rows) * stride);
    for (int r = 0; r < rows; ++r) {
      records[r * stride] = ctx - 1;
      for (int i = 0; i < pages; ++i) records[r * stride + 1 + i] = r * pages + (i * 7 + r) % pages;
    }
    int32_t* pos = b.Zeros<int32_t>(records.size());
    cudaMemcpy(pos, records.data(), records.size() * 4, cudaMemcpyHostToDevice);
    void* kc = b.Random(2l * rows * pages * kKvPageSize * kv);
    void* vc = b.Random(2l * rows * pages * kKvPageSize * kv);
    void* scratch = b.Zeros<char>(cuda::AttentionScratchBytes(rows, p.n_heads, hd, kMaxBenchSplits));
    const cuda::RopeShape shape{p.rope_theta, hd, hd, true};
    cuda::AttentionParams ap{a.x, kc, vc, a.y, rows, p.n_heads, p.n_kv_heads, hd, 1.0f / 8, pos, 1, scratch};
    ap.f16_cache = true;
    ap.block_table = pos + 1;
    ap.pos_stride = stride;
    ap.rope = {true, a.resid, a.resid, nullptr, nullptr, nullptr, WeightType::kF32, shape, cuda::MakeRopeTable(shape)};
    // The CUDA-core kernel a head per block and a group per block at its split count, then the tensor-core
    // kernel at its own and at other split counts.
    const int chosen = cuda::ChooseAttentionSplits(pages * kKvPageSize, p.n_heads, p.n_kv_heads, hd, true);
    const int cuda_core = cuda::ChooseAttentionSplits(pages * kKvPageSize, p.n_heads, p.n_kv_heads, hd, false);
    struct Variant {
      bool tensor_cores;
      int group, splits;
    };
    std::vector<Variant> variants = {
        {false, 1, cuda_core}, {false, p.n_heads / p.n_kv_heads, cuda_core}, {true, 1, chosen}};
    for (int splits : {8, 16, 32, 64, 128}) {
      if (splits != chosen && splits * 4 * kKvPageSize <= ctx) variants.push_back({true, 1, splits});
    }
    for (const Variant& v : variants) {
      ap.tensor_cores = v.tensor_cores, ap.group = v.group, ap.splits = v.splits;
      // The split counters sit after the partials, where another split count's partials were: zero them.
      CUDA_RETURN_IF_ERROR(cudaMemset(scratch, 0, cuda::AttentionScratchBytes(rows, p.n_heads, hd, kMaxBenchSplits)));
      const std::string name =
          v.tensor_cores ? absl::StrCat("rope+attention ", ctx, ", mma, ", v.splits, " splits")
                         : absl::StrCat("rope+attention ", ctx, ", ", v.group, " heads a block, ", v.splits, " splits");
      RETURN_IF_ERROR(b.Time(name, 4.0 * rows * ctx * kv, [&](cudaStream_t s, int) { return cuda::LaunchAttention(ap, s); },
                             absl::StrCat(rows)));
    }
    int32_t* tokens = b.Zeros<int32_t>(rows);
    cuda::ArgmaxParams am{a.y, nullptr, kVocab, tokens, rows};
    am.scratch = b.Zeros<char>(cuda::ArgmaxScratchBytes(rows, kVocab));
    RETURN_IF_ERROR(b.Time("argmax of the logits", 4.0 * rows * kVocab,
                           [&](cudaStream_t s, int) { return cuda::LaunchArgmax(am, s); }, absl::StrCat(rows)));
  }
  return absl::OkStatus();
}

// The one-row decode products (products whose rows are not whole blocks of the weights' type are skipped).
absl::Status OneRowProducts(Bench& b, const SyntheticPreset& p, const DecodeWeights& w, const Activations& a,
                            const std::string& name) {
  const int e = p.n_embd, hd = e / p.n_heads, q = p.n_heads * hd, kv = p.n_kv_heads * hd, ff = p.n_ff;
  auto L = [&](int i) -> const DecodeWeights::Layer& { return w.L(i); };
  const WeightType t = w.type;
  std::printf("%s %s, one-row decode products\n\n| kernel | us | GB/s |\n|---|---|---|\n", p.name.c_str(),
              name.c_str());
  if (w.wout != nullptr) {  // Rows of n_embd are whole blocks.
    RETURN_IF_ERROR(b.Time("norm+qkv gemv", w.Bytes(q + 2 * kv, e), [&](cudaStream_t s, int i) {
      return cuda::LaunchGemv({a.x, e, t, 3, {L(i).wq, L(i).wk, L(i).wv}, {a.y, a.y2, a.y3}, {q, kv, kv}, a.norm}, s);
    }));
    RETURN_IF_ERROR(b.Time("qkv gemv (no norm)", w.Bytes(q + 2 * kv, e), [&](cudaStream_t s, int i) {
      return cuda::LaunchGemv({a.x, e, t, 3, {L(i).wq, L(i).wk, L(i).wv}, {a.y, a.y2, a.y3}, {q, kv, kv}}, s);
    }));
    RETURN_IF_ERROR(b.Time("attn_out gemv + residual", w.Bytes(e, q), [&](cudaStream_t s, int i) {
      return cuda::LaunchGemv({a.x, q, t, 1, {L(i).wo}, {a.y}, {e}, {}, a.resid}, s);
    }));
    RETURN_IF_ERROR(b.Time("norm+gate_up+swiglu gemv", w.Bytes(2 * ff, e), [&](cudaStream_t s, int i) {
      return cuda::LaunchGateUpSwiglu({a.x, e, t, L(i).wg, L(i).wu, ff, a.y, a.norm}, s);
    }));
    float* pv = b.Zeros<float>(cuda::OutputArgmaxPartials(kVocab));
    int32_t* pi = b.Zeros<int32_t>(cuda::OutputArgmaxPartials(kVocab));
    int32_t* tok = b.Zeros<int32_t>(1);
    RETURN_IF_ERROR(b.Time("output gemv + argmax (2 kernels)", w.Bytes(kVocab, e), [&](cudaStream_t s, int) {
      return cuda::LaunchOutputArgmax({a.x, e, t, w.wout, kVocab, pv, pi, tok}, s);
    }));
    RETURN_IF_ERROR(b.Time("output gemv (logits)", w.Bytes(kVocab, e), [&](cudaStream_t s, int) {
      return cuda::LaunchGemv({a.x, e, t, 1, {w.wout}, {a.y}, {kVocab}}, s);
    }));
    if (t == WeightType::kQ8_0 && cuda::Q8_0RowsFit(e)) {  // The runtime's layout of a Q8_0 vocabulary.
      const void* rows = b.Quantized(DType::kQ8_0, kVocab, e, /*rows=*/true);
      RETURN_IF_ERROR(b.Time("output gemv + argmax (2 kernels) [q8_0 rows]", w.Bytes(kVocab, e),
                             [&](cudaStream_t s, int) {
                               return cuda::LaunchOutputArgmax({a.x, e, WeightType::kQ8_0R, rows, kVocab, pv, pi, tok},
                                                               s);
                             }));
      RETURN_IF_ERROR(b.Time("output gemv (logits) [q8_0 rows]", w.Bytes(kVocab, e), [&](cudaStream_t s, int) {
        return cuda::LaunchGemv({a.x, e, WeightType::kQ8_0R, 1, {rows}, {a.y}, {kVocab}}, s);
      }));
    }
  }
  if (L(0).wd != nullptr) {
    RETURN_IF_ERROR(b.Time("ffn_down gemv + residual", w.Bytes(e, ff), [&](cudaStream_t s, int i) {
      return cuda::LaunchGemv({a.x, ff, t, 1, {L(i).wd}, {a.y}, {e}, {}, a.resid}, s);
    }));
    if (t == WeightType::kQ8_0) {  // The runtime's layout of a Q8_0 ffn_down (rows longer than kQ8_0RowsMaxK).
      std::vector<const void*> rows;
      for (int c = 0; c < DecodeWeights::kCopies; ++c) rows.push_back(b.Quantized(DType::kQ8_0, e, ff, /*rows=*/true));
      RETURN_IF_ERROR(b.Time("ffn_down gemv + residual [q8_0 rows]", w.Bytes(e, ff), [&](cudaStream_t s, int i) {
        return cuda::LaunchGemv({a.x, ff, WeightType::kQ8_0R, 1, {rows[i % rows.size()]}, {a.y}, {e}, {}, a.resid}, s);
      }));
    }
  }
  return absl::OkStatus();
}

absl::Status Main(int argc, char** argv) {
  Flags flags;
  RETURN_IF_ERROR(flags.Parse(argc, argv, {{{"--preset"}}, {{"--ctx"}}, {{"--batch"}}, {{"--dtype"}}, {{"--only"}}}));
  ASSIGN_OR_RETURN(SyntheticPreset p, FindSyntheticPreset(flags.Get("--preset", "qwen2.5-0.5b")));
  int ctx = 128;
  RETURN_IF_ERROR(flags.GetInt("--ctx", &ctx, 1, 1 << 20));
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    return absl::FailedPreconditionError("kernel_bench times CUDA kernels: no CUDA device is present");
  }
  if (flags.Has("--batch")) {
    std::vector<int> batches;
    RETURN_IF_ERROR(flags.GetIntList("--batch", &batches, 1, cuda::kSmallBatchMaxRows));
    return BatchedProducts(p, batches, ctx, flags.Get("--dtype", "f16"), flags.Get("--only", ""));
  }
  const int e = p.n_embd, hd = e / p.n_heads, kv = p.n_kv_heads * hd;
  Bench b(flags.Get("--only", ""));
  const std::string dtype = flags.Get("--dtype", "f16");
  ASSIGN_OR_RETURN(const DecodeWeights w, DecodeWeights::Make(b, p, dtype));
  const Activations a = Activations::Make(b, p, 1);
  RETURN_IF_ERROR(OneRowProducts(b, p, w, a, dtype));
  if (w.dtype != DType::kF16) return absl::OkStatus();
  // The step's other kernels, which do not depend on the weights' type.
  int32_t* pos = b.Zeros<int32_t>(1);
  cudaMemcpy(pos, &ctx, 4, cudaMemcpyHostToDevice);
  --ctx;  // Position of the newest token; the KV cache holds ctx + 1 rows.
  std::printf("\nattention over %d positions\n\n| kernel | us | GB/s |\n|---|---|---|\n", ctx + 1);
  float* kc = static_cast<float*>(b.Random(4l * (ctx + 1) * kv));
  float* vc = static_cast<float*>(b.Random(4l * (ctx + 1) * kv));
  const int splits = cuda::ChooseAttentionSplits(ctx + 1, p.n_heads, p.n_kv_heads, hd, false);
  void* scratch = b.Zeros<char>(cuda::AttentionScratchBytes(1, p.n_heads, hd, splits));
  RETURN_IF_ERROR(b.Time("attention", 8.0 * (ctx + 1) * kv, [&](cudaStream_t s, int) {
    return cuda::LaunchAttention({a.x, kc, vc, a.y, 1, p.n_heads, p.n_kv_heads, hd, 1.0f / 8, pos, splits, scratch}, s);
  }));
  const cuda::RopeShape shape{p.rope_theta, hd, hd, true};
  RETURN_IF_ERROR(b.Time("bias+rope+kv write", 0, [&](cudaStream_t s, int) {
    return cuda::LaunchBiasRopeKv({shape, cuda::MakeRopeTable(shape), a.x, a.x, a.x, a.resid, a.resid, a.resid,
                                   WeightType::kF32, 1, p.n_heads, p.n_kv_heads, pos, a.y, kc, vc},
                                  s);
  }));
  RETURN_IF_ERROR(b.Time("rms_norm", 0, [&](cudaStream_t s, int) {
    return cuda::LaunchRmsNorm({a.x, nullptr, nullptr, a.norm_w, WeightType::kF32, 1, e, 1e-6f, a.y}, s);
  }));
  int32_t* tokens = b.Zeros<int32_t>(4);
  RETURN_IF_ERROR(b.Time("advance (empty-kernel floor)", 0, [&](cudaStream_t s, int) {
    return cuda::LaunchAdvance({nullptr, tokens, pos + 0, 0}, s);
  }));

  // The same decode products through cuBLASLt (one row): the alternative to the custom GEMV.
  std::printf("\ncuBLASLt, one row (products only)\n\n| kernel | us | GB/s |\n|---|---|---|\n");
  ASSIGN_OR_RETURN(auto gemm, cuda::CublasLtGemm::Create());
  RETURN_IF_ERROR(CublasLtProducts(b, *gemm, p, w, a, 1, "", ""));
  return absl::OkStatus();
}

}  // namespace
}  // namespace ggrt

int main(int argc, char** argv) { return ggrt::RunTool(ggrt::Main, argc, argv); }
