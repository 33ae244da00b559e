// Lowering: each op of a prepared graph becomes its kernel launches (a launcher's params bound to the
// graph's buffers, weights and scratch), in graph order, for CudaExecutor to enqueue or capture.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/quote.h"
#include "base/status_macros.h"
#include "loader/dequantize.h"
#include "ops/cuda/attention.h"
#include "ops/cuda/cuda_status.h"
#include "ops/cuda/elementwise.h"
#include "ops/cuda/flash_attention.h"
#include "ops/cuda/gemv.h"
#include "ops/cuda/rms_norm.h"
#include "ops/cuda/rope.h"
#include "ops/cuda/small_batch_gemm.h"
#include "ops/kv_pages.h"
#include "runtime/cuda_executor.h"
#include "runtime/cuda_values.h"

namespace ggrt {
namespace {

using cuda::WeightType;

// Wraps a kernel launcher's cudaError_t.
absl::Status Check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return absl::OkStatus();
  return cuda::CudaError(e, what);
}

// A rope node's shape and its frequency table (which the shape determines, with the scaling attributes).
struct RopeSetup {
  cuda::RopeShape shape;
  cuda::RopeTable table;
};

// Query heads per block of the CUDA-core decode attention (f32 caches and head sizes other than 64 and 128;
// the tensor-core kernel always serves a whole group): a batched step of many rows has blocks enough to give
// each one a whole GQA group (each K/V tile loaded once for it); fewer rows keep a block per head to fill the
// SMs. The results are the same either way (ops/cuda/attention.h), so the choice may follow the batch.
// kernel_bench --batch (H200, 192 positions, Qwen2.5-0.5B's 7 heads a group), us per launch, a block per head
// vs per group: 2 rows 10.7 vs 34.9, 16 rows 13.6 vs 35.0, 64 rows 24.9 vs 38.3, 128 rows 47.3 vs 38.7.
int AttentionGroup(const cuda::AttentionParams& p) {
  constexpr int kGroupedRows = 128;
  const bool grouped = p.pos_stride > 0 && p.rows >= kGroupedRows &&
                       cuda::AttentionGroupSupported(p.heads, p.kv_heads, p.head_dim);
  return grouped ? p.heads / p.kv_heads : 1;
}

}  // namespace

absl::Status CudaExecutor::BuildLaunches(Prepared& p) {
  // A temporary for `purpose`, shared with the graph's other nodes that ask for that purpose. A larger request
  // than the buffer's gets a new buffer, which later requests share; the earlier nodes keep the smaller one
  // (only the first request in practice: a graph's layers have equal shapes).
  using S = ScratchPurpose;
  auto scratch = [&](int64_t bytes, ScratchPurpose purpose) -> absl::StatusOr<void*> {
    auto& [ptr, size] = p.scratch[static_cast<int>(purpose)];
    if (size < bytes) {
      ASSIGN_OR_RETURN(ptr, Allocate(bytes, ScratchPurposeName(purpose), &memory_.scratch));
      size = bytes;
    }
    return ptr;
  };
  // One f16/bf16 copy of a matmul input for cuBLASLt, sized for the widest input of the graph.
  int64_t widest_input = 0;
  for (const Node* n : p.graph.nodes()) {
    switch (n->op) {
      case OpKind::kMatmul:
      case OpKind::kMultiMatmul:
      case OpKind::kFusedGateUpSwiglu:
      case OpKind::kFusedNormMatmul:
      case OpKind::kFusedNormGateUpSwiglu:
      case OpKind::kFusedMatmulResidual:
        if (Rows(n->operands[0]) > 1) widest_input = std::max(widest_input, Elements(n->operands[0]));
        break;
      default:
        break;
    }
  }
  void* converted = nullptr;
  if (widest_input > 0) {
    ASSIGN_OR_RETURN(converted, scratch(widest_input * 4, S::kGemmInputs));
  }
  // The value whose 16-bit copy (of `converted_type`) `converted` holds, written by the kernel that computed it
  // (a prefill's SwiGLU), so that the product after it needs no conversion launch.
  const Value* converted_holds = nullptr;
  WeightType converted_type = WeightType::kF32;
  // A value that only a prefill product through cuBLASLt reads (not the GEMV's rows, see matmuls) needs no f32
  // copy beside its 16-bit one.
  auto only_product_input = [&](const Value* v) {
    if (v->users.size() != 1 || v->users[0]->operands[0] != v) return false;
    if (Rows(v) == 1 || p.batch > 1) return false;
    for (const Value* o : p.graph.outputs()) {
      if (o == v) return false;
    }
    switch (v->users[0]->op) {
      case OpKind::kMatmul:
      case OpKind::kMultiMatmul:
      case OpKind::kFusedMatmulResidual:
        return true;
      default:
        return false;
    }
  };

  std::string label;  // Op of the launches being added.
  auto add = [&](std::function<absl::Status(cudaStream_t)> run) { p.launches.push_back({label, std::move(run)}); };

  // Products of each row of x alone, through the decode GEMV: its results for a row do not depend on the
  // other rows (f32 weights and shapes the small-batch kernel does not tile; a batched prefill's logits,
  // which its sequences' own prefills compute as one row).
  // `types`: each weight's. Up to three weights share a launch, at most two block formats among them (the
  // weights of the first type first, then the others': results are addressed by their own outputs).
  auto per_row_gemv = [&](const float* x, int rows, int k, const std::vector<WeightType>& types,
                          const std::vector<const void*>& w, const std::vector<int>& n, const std::vector<float*>& ys,
                          cuda::NormPrologue norm, const float* residual, bool swiglu) {
    for (int b = 0; b < rows; ++b) {
      const float* xb = x + static_cast<int64_t>(b) * k;
      if (swiglu) {
        const cuda::GateUpParams gu{xb, k, types[0], w[0], w[1], n[0], ys[0] + static_cast<int64_t>(b) * n[0], norm};
        add([gu](cudaStream_t s) { return Check(cuda::LaunchGateUpSwiglu(gu, s), "gate_up"); });
        continue;
      }
      std::vector<size_t> left(w.size());
      for (size_t i = 0; i < w.size(); ++i) left[i] = i;
      while (!left.empty()) {
        cuda::GemvParams gv{xb, k, types[left[0]], 0, {}, {}, {}, norm,
                            residual != nullptr ? residual + static_cast<int64_t>(b) * n[0] : nullptr};
        auto take = [&](WeightType t) {
          for (size_t j = 0; j < left.size() && gv.count < 3;) {
            if (types[left[j]] != t) {
              ++j;
              continue;
            }
            gv.w[gv.count] = w[left[j]];
            gv.y[gv.count] = ys[left[j]] + static_cast<int64_t>(b) * n[left[j]];
            gv.n[gv.count++] = n[left[j]];
            left.erase(left.begin() + j);
          }
        };
        take(gv.type);
        if (gv.count < 3 && !left.empty()) {
          gv.other_from = gv.count;
          gv.other_type = types[left[0]];
          take(gv.other_type);
        }
        add([gv](cudaStream_t s) { return Check(cuda::LaunchGemv(gv, s), "gemv"); });
      }
    }
  };

  const bool batched_step = p.batch > 1 && p.seq_len == 1;
  // A batched decode step's products on the small-batch tensor-core kernel, which reads each weight once
  // for all rows and keeps every row's result independent of the batch; false when it does not take them.
  auto small_batch = [&](const Value* x, const std::vector<const Value*>& ws, const std::vector<float*>& ys,
                         cuda::NormPrologue norm, const float* residual, bool swiglu) -> absl::StatusOr<bool> {
    if (!batched_step || ws.size() > 3) return false;
    cuda::SmallBatchGemmParams g{Buffer(p, x), Rows(x), Cols(x), WeightType::kF32, static_cast<int>(ws.size()),
                                 {}, {}, {}, norm, residual, swiglu};
    for (size_t i = 0; i < ws.size(); ++i) {
      ASSIGN_OR_RETURN(DeviceWeight d, Weight(ws[i]));
      RET_CHECK(i == 0 || d.type == g.type, "weights of one product differ in dtype");
      g.type = d.type;
      g.w[i] = d.ptr;
      g.n[i] = Rows(ws[i]);
      if (i < ys.size()) g.y[i] = ys[i];
    }
    if (!cuda::SmallBatchGemmSupports(g)) {
      // Block formats take the general path.
      if (cuda::IsQuantized(g.type)) return false;
      // (Explicit ranges: braces around two pointers would make a vector of the two pointers.)
      per_row_gemv(g.x, g.rows, g.k, std::vector<WeightType>(g.count, g.type),
                   std::vector<const void*>(g.w, g.w + g.count),
                   std::vector<int>(g.n, g.n + g.count), ys, norm, residual, swiglu);
      return true;
    }
    if (const int64_t bytes = cuda::SmallBatchGemmScratchBytes(g); bytes > 0) {
      // Split counters zeroed once (each launch leaves them at zero), partials, converted x.
      ASSIGN_OR_RETURN(g.scratch, scratch(bytes, S::kSmallBatchGemm));
      CUDA_RETURN_IF_ERROR(cudaMemset(g.scratch, 0, bytes));
    }
    int n_total = 0;
    for (int i = 0; i < g.count; ++i) n_total += g.n[i];
    p.launches.push_back({absl::StrCat("small-batch gemm ", g.rows, "x", n_total, "x", g.k),
                          [g](cudaStream_t s) { return Check(cuda::LaunchSmallBatchGemm(g, s), "small-batch gemm"); },
                          2.0 * g.rows * n_total * g.k});
    return true;
  };

  // Products of x [rows, k] (normalised first when `norm` has a weight) with each weight, into each
  // output, plus `residual` when given (single weight only).
  std::function<absl::Status(const Value*, std::vector<const Value*>, std::vector<float*>, cuda::NormPrologue,
                             const float*)>
      matmuls;
  matmuls = [&](const Value* x, std::vector<const Value*> ws, std::vector<float*> ys, cuda::NormPrologue norm,
                const float* residual) -> absl::Status {
    std::vector<DeviceWeight> dw;
    bool mixed = false;
    for (const Value* w : ws) {
      ASSIGN_OR_RETURN(DeviceWeight d, Weight(w));
      // fuse-qkv joins block formats of different types (a Q4_K_M layer's q, k and v), never float ones.
      mixed |= !dw.empty() && d.type != dw[0].type;
      RET_CHECK(dw.empty() || d.type == dw[0].type || (cuda::IsQuantized(d.type) && cuda::IsQuantized(dw[0].type)),
                "weights of one product differ in dtype");
      dw.push_back(d);
    }
    if (!mixed) {
      ASSIGN_OR_RETURN(const bool batched, small_batch(x, ws, ys, norm, residual, /*swiglu=*/false));
      if (batched) return absl::OkStatus();
    }
    const float* xp = Buffer(p, x);
    const int rows = Rows(x), k = Cols(x);
    // One row, or a batched prefill's predicting rows (one per sequence, after last_row): the GEMV takes two
    // block formats in one launch.
    if (rows == 1 || (p.spans && rows == p.batch)) {
      std::vector<WeightType> types;
      std::vector<const void*> w;
      std::vector<int> n;
      for (size_t i = 0; i < ws.size(); ++i) {
        types.push_back(dw[i].type), w.push_back(dw[i].ptr), n.push_back(Rows(ws[i]));
      }
      per_row_gemv(xp, rows, k, types, w, n, ys, norm, residual, /*swiglu=*/false);
      return absl::OkStatus();
    }
    // A batched step's products of several types: a product per type (the small-batch kernel takes one).
    // Prefill dequantizes weight by weight anyway.
    if (mixed && batched_step) {
      std::vector<WeightType> types;  // In order of first appearance.
      for (const DeviceWeight& d : dw) {
        if (std::find(types.begin(), types.end(), d.type) == types.end()) types.push_back(d.type);
      }
      for (WeightType t : types) {
        std::vector<const Value*> wt;
        std::vector<float*> yt;
        for (size_t j = 0; j < ws.size(); ++j) {
          if (dw[j].type == t) wt.push_back(ws[j]), yt.push_back(ys[j]);
        }
        RETURN_IF_ERROR(matmuls(x, wt, yt, norm, residual));
      }
      return absl::OkStatus();
    }
    // Block formats: each weight is decoded to f16 in scratch just before its product (no dequantized copy
    // of the model is kept), and the product runs in f16.
    const bool quantized = cuda::IsQuantized(dw[0].type);
    const WeightType type = quantized ? WeightType::kF16 : dw[0].type;
    const void* input = xp;
    if (type != WeightType::kF32) {
      RET_CHECK(converted != nullptr, "no scratch for the converted input of a ", rows, "-row product");
      input = converted;
    }
    if (norm.weight != nullptr) {
      // Prefill: normalise into scratch (in the products' 16-bit type, straight into their input), then the
      // products read that.
      cuda::RmsNormParams r{xp, nullptr, nullptr, norm.weight, norm.type, rows, k, norm.eps, nullptr};
      if (type == WeightType::kF32) {
        ASSIGN_OR_RETURN(void* normed, scratch(static_cast<int64_t>(rows) * k * 4, S::kNormalisedInput));
        r.out = static_cast<float*>(normed);
        input = normed;
      } else {
        r.out16 = converted, r.out16_type = type;
      }
      add([r](cudaStream_t s) { return Check(cuda::LaunchRmsNorm(r, s), "rms_norm"); });
      converted_holds = nullptr;
    } else if (type != WeightType::kF32 && !(converted_holds == x && converted_type == type)) {
      const int64_t n = static_cast<int64_t>(rows) * k;
      add([xp, n, type, converted](cudaStream_t s) {
        return Check(cuda::LaunchConvert(xp, n, type, converted, s), "convert");
      });
      converted_holds = x, converted_type = type;
    }
    for (size_t i = 0; i < ws.size();) {
      const int n = Rows(ws[i]);
      // Two weights of one shape (gate and up, k and v) as one launch of a batch of two products when their
      // results (and float weights) lie a 16-byte aligned distance apart, the lower address first.
      auto apart = [](const void* a, const void* b) {
        return reinterpret_cast<intptr_t>(b) - reinterpret_cast<intptr_t>(a);
      };
      const size_t esize = type == WeightType::kF32 ? 4 : 2;
      bool pair = residual == nullptr && i + 1 < ws.size() && Rows(ws[i + 1]) == n && dw[i + 1].type == dw[i].type;
      size_t a = i, b = i + 1;  // Batch entries 0 and 1.
      if (pair) {
        if (apart(ys[i], ys[i + 1]) < 0) std::swap(a, b);
        const intptr_t y_bytes = apart(ys[a], ys[b]), w_bytes = apart(dw[a].ptr, dw[b].ptr);
        pair = y_bytes % 16 == 0 && (quantized || (w_bytes > 0 && w_bytes % 16 == 0));
      }
      if (!pair) a = i;
      const int count = pair ? 2 : 1;
      cuda::GemmParams g{input, dw[a].ptr, type, rows, k, n, ys[a], residual};
      if (quantized) {
        ASSIGN_OR_RETURN(void* tile, scratch(Elements(ws[i]) * 2 * count, S::kDequantizedWeight));
        for (int j = 0; j < count; ++j) {
          const size_t w = j == 0 ? a : b;
          const cuda::DequantizeParams d{dw[w].ptr, dw[w].type, n, k,
                                         static_cast<char*>(tile) + j * Elements(ws[i]) * 2};
          add([d](cudaStream_t s) { return Check(cuda::LaunchDequantize(d, s), "dequantize"); });
        }
        g.w = tile;
      }
      if (pair) {
        g.batch = 2;
        g.w_stride = quantized ? Elements(ws[i]) : apart(dw[a].ptr, dw[b].ptr) / static_cast<intptr_t>(esize);
        g.y_stride = apart(ys[a], ys[b]) / 4;
      }
      p.launches.push_back({absl::StrCat("gemm ", rows, "x", n, "x", k, count > 1 ? " x2" : ""),
                            [this, g](cudaStream_t s) { return gemm_->Run(g, s); }, 2.0 * count * rows * n * k});
      i += count;
    }
    return absl::OkStatus();
  };

  // A prefill's SwiGLU of the gate and up products into `result`, which the down product reads: its 16-bit copy
  // goes straight into that product's input (in the type the gate weight's products ran in), and the f32 result
  // only where something else reads it too.
  auto prefill_swiglu = [&](const float* gate, const float* up, const Value* result, float* y,
                            WeightType gate_type) -> absl::Status {
    cuda::SwigluParams sw{gate, up, Elements(result), y};
    const WeightType type = cuda::IsQuantized(gate_type) ? WeightType::kF16 : gate_type;
    if (type != WeightType::kF32 && converted != nullptr && Elements(result) <= widest_input) {
      sw.out16 = converted, sw.out16_type = type;
      converted_holds = result, converted_type = type;
      if (only_product_input(result)) sw.out = nullptr;
    }
    add([sw](cudaStream_t s) { return Check(cuda::LaunchSwiglu(sw, s), "swiglu"); });
    return absl::OkStatus();
  };

  // Binds the optional Q, K, V biases of fused_bias_rope and fused_rope_attention.
  auto bind_biases = [&](const Node* n, const void** const (&slots)[3], WeightType* type) -> absl::Status {
    const int first = QkvBiasOperand(*n);
    if (first < 0) return absl::OkStatus();
    for (int i = 0; i < 3; ++i) {
      ASSIGN_OR_RETURN(DeviceWeight w, Weight(n->operands[first + i]));
      RET_CHECK(i == 0 || w.type == *type, "QKV biases differ in dtype");
      *slots[i] = w.ptr;
      *type = w.type;
    }
    return absl::OkStatus();
  };
  // The angles' frequency table of a rope node, with its scaling and frequency divisors (read on the host).
  auto rope_setup = [&](const Node* n, const RopeAttrs& r) -> absl::StatusOr<RopeSetup> {
    const cuda::RopeShape shape{r.theta, r.dims, r.head_dim, r.neox};
    const Value* factors = RopeFreqFactors(*n);
    if (factors == nullptr) return RopeSetup{shape, cuda::MakeRopeTable(shape, r.freq_scale)};
    ASSIGN_OR_RETURN(const GgufTensorInfo* t, weights_.GetTensor(factors->name));
    std::vector<float> values(t->elements());
    RETURN_IF_ERROR(DequantizeRow(t->dtype, t->data, values.data(), t->elements()));
    return RopeSetup{shape, cuda::MakeRopeTable(shape, r.freq_scale, values.data())};
  };
  // Attention partials for `rows` rows, zeroed once: the split counters must start at zero (each launch
  // leaves them at zero again, so the nodes can share them).
  auto attention_scratch = [&](int rows, const AttentionAttrs& a, int splits) -> absl::StatusOr<void*> {
    const int64_t bytes = cuda::AttentionScratchBytes(rows, a.heads, a.head_dim, splits);
    ASSIGN_OR_RETURN(void* partial, scratch(bytes, S::kAttentionPartials));
    CUDA_RETURN_IF_ERROR(cudaMemset(partial, 0, bytes));
    return partial;
  };

  for (const Node* n : p.graph.nodes()) {
    label = std::string(OpName(n->op));
    const auto& in = n->operands;
    // The block table when the node's %pos carries one (hand-written graphs may give just the position).
    auto block_table = [&](int pos_operand) -> const int32_t* {
      return BlockTablePages(*in[pos_operand]) > 0 ? pos_ + 1 : nullptr;
    };
    auto pos_stride = [&](int pos_operand) { return PosStride(*in[pos_operand]); };
    auto pos_span = [&](int pos_operand, const Value* x) {
      return static_cast<int>(PosSpan(*in[pos_operand], Rows(x)));
    };
    auto f16 = [&](int cache_operand) { return in[cache_operand]->type.dtype == DType::kF16; };
    auto out = [&](int i) { return Buffer(p, n->results[i]); };
    auto act = [&](int i) { return Buffer(p, in[i]); };
    switch (n->op) {
      case OpKind::kEmbedding: {
        ASSIGN_OR_RETURN(DeviceWeight t, Weight(in[1]));
        const auto* a = std::get_if<EmbeddingAttrs>(&n->attrs);
        const cuda::EmbeddingParams e{tokens_, Rows(n->results[0]), t.ptr,   t.type,
                                      Cols(in[1]), out(0),           a != nullptr ? a->scale : 1.0f};
        add([e](cudaStream_t s) { return Check(cuda::LaunchEmbedding(e, s), "embedding"); });
        break;
      }
      case OpKind::kRmsNorm:
      case OpKind::kFusedResidualRmsNorm: {
        const bool fused = n->op == OpKind::kFusedResidualRmsNorm;
        const Value* weight = in[fused ? 2 : 1];
        ASSIGN_OR_RETURN(DeviceWeight w, Weight(weight));
        // A weight narrower than the row normalises each head-wide slice on its own: more, shorter rows.
        const int width = static_cast<int>(weight->type.shape[0]);
        const cuda::RmsNormParams r{act(0), fused ? act(1) : nullptr, fused ? out(0) : nullptr, w.ptr, w.type,
                                    Rows(in[0]) * (Cols(in[0]) / width), width,
                                    std::get<RmsNormAttrs>(n->attrs).eps, out(fused ? 1 : 0)};
        add([r](cudaStream_t s) { return Check(cuda::LaunchRmsNorm(r, s), "rms_norm"); });
        break;
      }
      case OpKind::kMatmul:
      case OpKind::kMultiMatmul: {
        std::vector<const Value*> ws(in.begin() + 1, in.end());
        std::vector<float*> ys;
        for (size_t i = 0; i < n->results.size(); ++i) ys.push_back(out(i));
        RETURN_IF_ERROR(matmuls(in[0], ws, ys, {}, nullptr));
        break;
      }
      case OpKind::kFusedGateUpSwiglu: {
        ASSIGN_OR_RETURN(const bool batched, small_batch(in[0], {in[1], in[2]}, {out(0)}, {}, nullptr, true));
        if (batched) break;
        if (Rows(in[0]) == 1) {
          ASSIGN_OR_RETURN(DeviceWeight g, Weight(in[1]));
          ASSIGN_OR_RETURN(DeviceWeight u, Weight(in[2]));
          RET_CHECK(g.type == u.type, "gate and up weights differ in dtype");
          const cuda::GateUpParams gu{act(0), Cols(in[0]), g.type, g.ptr, u.ptr, Rows(in[1]), out(0)};
          add([gu](cudaStream_t s) { return Check(cuda::LaunchGateUpSwiglu(gu, s), "gate_up"); });
        } else {
          const int64_t count = Elements(n->results[0]);
          // Gate and up side by side, so that their products can run as one launch.
          ASSIGN_OR_RETURN(void* gate, scratch(count * 8, S::kPrefillGateUp));
          float* up = static_cast<float*>(gate) + count;
          RETURN_IF_ERROR(matmuls(in[0], {in[1], in[2]}, {static_cast<float*>(gate), up}, {}, nullptr));
          ASSIGN_OR_RETURN(DeviceWeight g, Weight(in[1]));
          RETURN_IF_ERROR(prefill_swiglu(static_cast<float*>(gate), up, n->results[0], out(0),
                                         g.type));
        }
        break;
      }
      case OpKind::kFusedNormMatmul:
      case OpKind::kFusedNormGateUpSwiglu: {
        ASSIGN_OR_RETURN(DeviceWeight g, Weight(in[1]));
        const cuda::NormPrologue norm{g.ptr, g.type, std::get<RmsNormAttrs>(n->attrs).eps};
        std::vector<const Value*> ws(in.begin() + 2, in.end());
        if (n->op == OpKind::kFusedNormMatmul) {
          std::vector<float*> ys;
          for (size_t i = 0; i < n->results.size(); ++i) ys.push_back(out(i));
          RETURN_IF_ERROR(matmuls(in[0], ws, ys, norm, nullptr));
          break;
        }
        ASSIGN_OR_RETURN(const bool batched, small_batch(in[0], ws, {out(0)}, norm, nullptr, true));
        if (batched) break;
        if (Rows(in[0]) == 1) {
          ASSIGN_OR_RETURN(DeviceWeight wg, Weight(in[2]));
          ASSIGN_OR_RETURN(DeviceWeight wu, Weight(in[3]));
          const cuda::GateUpParams gu{act(0), Cols(in[0]), wg.type, wg.ptr, wu.ptr, Rows(in[2]), out(0), norm};
          add([gu](cudaStream_t s) { return Check(cuda::LaunchGateUpSwiglu(gu, s), "gate_up"); });
        } else {
          const int64_t count = Elements(n->results[0]);
          ASSIGN_OR_RETURN(void* gate, scratch(count * 8, S::kPrefillGateUp));
          float* up = static_cast<float*>(gate) + count;
          RETURN_IF_ERROR(matmuls(in[0], ws, {static_cast<float*>(gate), up}, norm, nullptr));
          ASSIGN_OR_RETURN(DeviceWeight wg, Weight(in[2]));
          RETURN_IF_ERROR(prefill_swiglu(static_cast<float*>(gate), up, n->results[0], out(0),
                                         wg.type));
        }
        break;
      }
      case OpKind::kFusedMatmulResidual:
        RETURN_IF_ERROR(matmuls(in[0], {in[1]}, {out(0)}, {}, act(2)));
        break;
      case OpKind::kAdd: {
        const bool bias = in[1]->type.shape.size() == 1;
        cuda::AddParams a{act(0), nullptr, bias, WeightType::kF32, Rows(in[0]), Cols(in[0]), out(0)};
        if (bias) {
          ASSIGN_OR_RETURN(DeviceWeight b, Weight(in[1]));
          a.b = b.ptr;
          a.bias_type = b.type;
        } else {
          a.b = act(1);
        }
        add([a](cudaStream_t s) { return Check(cuda::LaunchAdd(a, s), "add"); });
        break;
      }
      case OpKind::kRope: {
        const auto& r = std::get<RopeAttrs>(n->attrs);
        ASSIGN_OR_RETURN(const RopeSetup rope, rope_setup(n, r));
        const cuda::RopeParams rp{rope.shape, rope.table, act(0), out(0), Rows(in[0]), Cols(in[0]) / r.head_dim, pos_,
                                  pos_stride(1), pos_span(1, in[0])};
        add([rp](cudaStream_t s) { return Check(cuda::LaunchRope(rp, s), "rope"); });
        break;
      }
      case OpKind::kKvWrite: {
        const cuda::KvWriteParams kv{act(1), Rows(in[1]), Cols(in[1]), pos_, out(0), f16(0), block_table(2),
                                     pos_stride(2), pos_span(2, in[1])};
        add([kv](cudaStream_t s) { return Check(cuda::LaunchKvWrite(kv, s), "kv_write"); });
        break;
      }
      case OpKind::kFusedBiasRope: {
        const auto& r = std::get<RopeAttrs>(n->attrs);
        ASSIGN_OR_RETURN(const RopeSetup rope, rope_setup(n, r));
        cuda::BiasRopeKvParams b{rope.shape, rope.table, act(0), act(1), act(2), nullptr, nullptr,
                                 nullptr, WeightType::kF32, Rows(in[0]), Cols(in[0]) / r.head_dim,
                                 Cols(in[1]) / r.head_dim, pos_, out(0), out(1), out(2)};
        b.f16_cache = f16(4);
        b.block_table = block_table(3);
        b.pos_stride = pos_stride(3);
        b.pos_span = pos_span(3, in[0]);
        RETURN_IF_ERROR(bind_biases(n, {&b.bq, &b.bk, &b.bv}, &b.bias_type));
        add([b](cudaStream_t s) { return Check(cuda::LaunchBiasRopeKv(b, s), "bias_rope"); });
        break;
      }
      case OpKind::kFusedRopeAttention: {
        const auto& ra = std::get<RopeAttentionAttrs>(n->attrs);
        const AttentionAttrs& a = ra.attention;
        const int rows = Rows(in[0]);  // One token per sequence; the split as for one.
        const int splits = cuda::ChooseAttentionSplits(ctx_size_, a.heads, a.kv_heads, a.head_dim, f16(4));
        ASSIGN_OR_RETURN(void* partial, attention_scratch(rows, a, splits));
        cuda::AttentionParams ap{act(0), out(1), out(2), out(0), rows, a.heads, a.kv_heads, a.head_dim, a.scale,
                                 pos_, splits, partial};
        ap.softcap = a.softcap;
        ap.window = a.window;
        ap.f16_cache = f16(4);
        ap.block_table = block_table(3);
        ap.pos_stride = pos_stride(3);
        ap.group = AttentionGroup(ap);
        ap.late_launch = p.batch == 1;  // The lone step only: the batched step of one sequence lost 2.6% by it.
        ASSIGN_OR_RETURN(const RopeSetup rope, rope_setup(n, ra.rope));
        ap.rope = {true, act(1), act(2), nullptr, nullptr, nullptr, WeightType::kF32, rope.shape, rope.table};
        RETURN_IF_ERROR(bind_biases(n, {&ap.rope.bq, &ap.rope.bk, &ap.rope.bv}, &ap.rope.bias_type));
        add([ap](cudaStream_t s) { return Check(cuda::LaunchAttention(ap, s), "rope_attention"); });
        break;
      }
      case OpKind::kAttention: {
        const auto& a = std::get<AttentionAttrs>(n->attrs);
        // The split of the KV length depends on the context alone, so a batched row's result does not depend
        // on the batch.
        cuda::AttentionParams ap{act(0), act(1), act(2), out(0), Rows(in[0]), a.heads, a.kv_heads,
                                 a.head_dim, a.scale, pos_,
                                 cuda::ChooseAttentionSplits(ctx_size_, a.heads, a.kv_heads, a.head_dim, f16(1)),
                                 nullptr};
        ap.softcap = a.softcap;
        ap.window = a.window;
        ap.f16_cache = f16(1);
        ap.block_table = block_table(3);
        ap.pos_stride = pos_stride(3);
        ap.pos_span = pos_span(3, in[0]);
        ap.group = AttentionGroup(ap);
        if (!cuda::FlashAttentionSupports(ap)) {  // Flash attention keeps no partials.
          ASSIGN_OR_RETURN(ap.scratch, attention_scratch(Rows(in[0]), a, ap.splits));
        }
        add([ap](cudaStream_t s) { return Check(cuda::LaunchAttention(ap, s), "attention"); });
        break;
      }
      case OpKind::kSwiglu:
      case OpKind::kGeglu: {
        const cuda::SwigluParams sw{act(0), act(1), Elements(in[0]), out(0), n->op == OpKind::kGeglu};
        add([sw](cudaStream_t s) { return Check(cuda::LaunchSwiglu(sw, s), "glu"); });
        break;
      }
      case OpKind::kSoftcap: {
        const float* x = act(0);
        float* y = out(0);
        const int64_t count = Elements(in[0]);
        const float cap = std::get<SoftcapAttrs>(n->attrs).cap;
        add([x, count, cap, y](cudaStream_t s) { return Check(cuda::LaunchSoftcap(x, count, cap, y, s), "softcap"); });
        break;
      }
      case OpKind::kLastRow: {
        const int sequences = Rows(n->results[0]);
        const cuda::LastRowsParams lr{act(0), Cols(in[0]), Rows(in[0]) / sequences, sequences,
                                      in.size() == 2 ? last_rows_ : nullptr, out(0)};
        add([lr](cudaStream_t s) { return Check(cuda::LaunchLastRows(lr, s), "last_row"); });
        break;
      }
      case OpKind::kArgmax: {
        cuda::ArgmaxParams am{act(0), nullptr, Cols(in[0]), reinterpret_cast<int32_t*>(out(0)), Rows(in[0])};
        const int64_t bytes = cuda::ArgmaxScratchBytes(am.rows, am.n);
        ASSIGN_OR_RETURN(am.scratch, scratch(bytes, S::kArgmaxPartials));
        CUDA_RETURN_IF_ERROR(cudaMemset(am.scratch, 0, bytes));
        add([am](cudaStream_t s) { return Check(cuda::LaunchArgmax(am, s), "argmax"); });
        break;
      }
      case OpKind::kFusedOutputArgmax: {
        ASSIGN_OR_RETURN(DeviceWeight w, Weight(in[1]));
        const int vocab = Rows(in[1]);
        ASSIGN_OR_RETURN(void* values, scratch(cuda::OutputArgmaxPartials(vocab) * 4, S::kArgmaxValues));
        ASSIGN_OR_RETURN(void* indices, scratch(cuda::OutputArgmaxPartials(vocab) * 4, S::kArgmaxIndices));
        const cuda::OutputArgmaxParams o{act(0), Cols(in[0]), w.type, w.ptr, vocab, static_cast<float*>(values),
                                         static_cast<int32_t*>(indices), reinterpret_cast<int32_t*>(out(0))};
        add([o](cudaStream_t s) { return Check(cuda::LaunchOutputArgmax(o, s), "output_argmax"); });
        break;
      }
    }
  }
  if (p.spans) {
    // A batched prefill: its rows' logits (or greedy tokens) go to pinned memory; the host picks from them.
    label = "copy";
    const void* result = Buffer(p, p.output);
    void* dst = p.greedy ? static_cast<void*>(p.host_tokens) : static_cast<void*>(p.host_logits);
    const size_t bytes = p.output->type.bytes();
    add([result, dst, bytes](cudaStream_t s) {
      CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst, result, bytes, cudaMemcpyDeviceToHost, s));
      return absl::OkStatus();
    });
    return absl::OkStatus();
  }
  if (p.batch > 1) {
    // A batched step: the host uploads every row's token and record when the rows change, and takes the
    // rows' tokens from the mapped ring (or their logits, DecodeBatch, outside the captured graph). Graphs
    // that return logits also sample every row on the device, with the settings of the last upload. The
    // step ends by moving every row on, so that it can replay itself (DecodeBatch's run-ahead).
    if (!p.greedy) {
      label = "sample";
      const int vocab = Cols(p.output);
      ASSIGN_OR_RETURN(void* candidates,
                       scratch(cuda::SampleScratchBytes(vocab) * p.batch, S::kBatchedSamplerCandidates));
      cuda::SampleParams sp{Buffer(p, p.output), vocab, batch_configs_, pos_, batch_sampled_, candidates,
                            nullptr, 1, nullptr};
      sp.rows = p.batch;
      sp.pos_stride = PosStride(*p.graph.FindValue("pos"));
      sp.windows = batch_windows_;
      sp.window_lens = batch_windows_ + int64_t{kMaxBatch} * cuda::kBatchRepeatWindow;
      add([sp](cudaStream_t s) { return Check(cuda::LaunchSample(sp, s), "sample"); });
    }
    label = "advance";
    cuda::BatchAdvanceParams adv{p.greedy ? reinterpret_cast<const int32_t*>(Buffer(p, p.output)) : batch_sampled_,
                                 tokens_, pos_, static_cast<int>(PosStride(*p.graph.FindValue("pos"))), p.batch,
                                 device_batch_ring_, kMaxBatch, batch_steps_on_device_};
    if (!p.greedy) {
      adv.windows = batch_windows_;
      adv.window_lens = batch_windows_ + int64_t{kMaxBatch} * cuda::kBatchRepeatWindow;
      adv.window = cuda::kBatchRepeatWindow;
    }
    add([adv](cudaStream_t s) { return Check(cuda::LaunchBatchAdvance(adv, s), "batch advance"); });
    return absl::OkStatus();
  }
  // The step's tail: advance the device-side token and position, and hand the result to the host: the
  // greedy decode step writes its token into the mapped ring, other graphs copy to pinned memory.
  const bool sample = !p.greedy && device_sampling_.has_value();
  p.returns_token = p.greedy || sample;
  p.uses_ring = p.returns_token && p.seq_len == 1;
  const int32_t* token = p.greedy ? reinterpret_cast<const int32_t*>(Buffer(p, p.output)) : sampled_token_;
  if (sample) {
    label = "sample";
    ASSIGN_OR_RETURN(void* candidates, scratch(cuda::SampleScratchBytes(Cols(p.output)), S::kSamplerCandidates));
    const cuda::SampleParams sp{Buffer(p, p.output), Cols(p.output), sampler_config_, pos_, sampled_token_,
                                candidates, tokens_, p.seq_len, history_};
    add([sp](cudaStream_t s) { return Check(cuda::LaunchSample(sp, s), "sample"); });
  }
  label = "advance+copy";
  const cuda::AdvanceParams adv{p.returns_token ? token : nullptr, tokens_, pos_, p.seq_len,
                                p.uses_ring ? device_ring_ : nullptr};
  add([adv](cudaStream_t s) { return Check(cuda::LaunchAdvance(adv, s), "advance"); });
  if (p.uses_ring) return absl::OkStatus();
  const void* result = p.returns_token ? static_cast<const void*>(token) : Buffer(p, p.output);
  const size_t result_bytes = p.returns_token ? sizeof(int32_t) : p.output->type.bytes();
  add([this, result, result_bytes, returns_token = p.returns_token, logits = p.host_logits](cudaStream_t s) {
    void* dst = returns_token ? static_cast<void*>(host_token_) : static_cast<void*>(logits);
    CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst, result, result_bytes, cudaMemcpyDeviceToHost, s));
    return absl::OkStatus();
  });
  return absl::OkStatus();
}

}  // namespace ggrt
