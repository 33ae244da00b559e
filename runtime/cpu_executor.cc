#include "runtime/cpu_executor.h"

#include <algorithm>
#include <array>

#include "absl/strings/str_cat.h"
#include "base/memory.h"
#include "base/status_macros.h"
#include "loader/dequantize.h"
#include "ops/cpu/attention.h"
#include "ops/cpu/elementwise.h"
#include "ops/cpu/matmul.h"
#include "ops/cpu/rms_norm.h"
#include "ops/cpu/rope.h"
#include "ops/kv_pages.h"

namespace ggrt {

absl::StatusOr<ZeroedFloats> ZeroedFloats::Allocate(int64_t elements, absl::string_view what) {
  ZeroedFloats z;
  // At least one element, so that an empty buffer still has an address.
  z.data_.reset(static_cast<float*>(std::calloc(std::max<int64_t>(elements, 1), sizeof(float))));
  if (z.data_ == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate ", FormatBytes(elements * static_cast<int64_t>(sizeof(float))), " for ", what));
  }
  z.elements_ = elements;
  return z;
}

absl::StatusOr<std::unique_ptr<CpuExecutor>> CpuExecutor::Create(const GgufFile& weights, GraphFactory factory) {
  std::unique_ptr<CpuExecutor> e(new CpuExecutor(weights, std::move(factory)));
  ASSIGN_OR_RETURN(Prepared * decode, e->GetGraph(1, 1));
  RETURN_IF_ERROR(e->InitShapes(decode->graph));
  return e;
}

absl::StatusOr<CpuExecutor::Prepared*> CpuExecutor::GetGraph(int seq_len, int batch, bool spans) {
  auto it = graphs_.find({seq_len, batch, spans});
  if (it != graphs_.end()) return it->second.get();
  ASSIGN_OR_RETURN(Graph g, factory_(seq_len, batch, spans));
  auto p = std::make_unique<Prepared>(Prepared{std::move(g), {}, {}});
  ASSIGN_OR_RETURN(p->plan, PlanMemory(p->graph, sizeof(float)));
  int64_t new_bytes = p->plan.arena_bytes;
  for (const Value* s : p->graph.states()) {
    if (!states_.contains(s->name)) new_bytes += s->type.elements() * static_cast<int64_t>(sizeof(float));
  }
  RETURN_IF_ERROR(CheckFits(absl::StrCat("the ", p->graph.name(), " graph's activations and states"), new_bytes,
                            HostMemoryAvailable(), "of host memory"));
  ASSIGN_OR_RETURN(p->arena, ZeroedFloats::Allocate(p->plan.arena_bytes / sizeof(float),
                                                    absl::StrCat("the ", p->graph.name(), " graph's activations")));
  for (const Value* s : p->graph.states()) {
    ZeroedFloats& buf = states_[s->name];
    if (buf.data() == nullptr) {
      ASSIGN_OR_RETURN(buf, ZeroedFloats::Allocate(s->type.elements(), absl::StrCat("state %", s->name)));
    }
    RET_CHECK(buf.elements() == s->type.elements(), "state %", s->name, " has different shapes in different graphs");
  }
  Prepared* raw = p.get();
  graphs_[{seq_len, batch, spans}] = std::move(p);
  return raw;
}

absl::StatusOr<const float*> CpuExecutor::Param(const Value* v) {
  auto it = params_.find(v->name);
  if (it != params_.end()) return it->second.data();
  ASSIGN_OR_RETURN(const GgufTensorInfo* t, weights_.GetTensor(v->name));
  std::vector<float> data(t->elements());
  RETURN_IF_ERROR(DequantizeRow(t->dtype, t->data, data.data(), t->elements()));
  return params_.emplace(v->name, std::move(data)).first->second.data();
}

float* CpuExecutor::Buffer(Prepared& p, const Value* v) {
  const Value* owner = BufferOwner(v);
  if (owner->kind == ValueKind::kState) return states_[owner->name].data();
  return p.arena.data() + p.plan.offsets.at(owner) / sizeof(float);
}

absl::StatusOr<StepOutput> CpuExecutor::PrefillSequence(absl::Span<const int32_t> tokens, int pos,
                                                        absl::Span<const int32_t> block_table) {
  RET_CHECK(!tokens.empty(), "prefill of zero tokens");
  RETURN_IF_ERROR(CheckSequence(pos, static_cast<int>(tokens.size()), block_table));
  ASSIGN_OR_RETURN(Prepared * p, GetGraph(static_cast<int>(tokens.size()), 1));
  tokens_.assign(tokens.begin(), tokens.end());
  pos_.assign(1 + max_sequence_pages_, 0);
  pos_[0] = pos;
  std::copy(block_table.begin(), block_table.end(), pos_.begin() + 1);
  RETURN_IF_ERROR(Run(*p));
  return Output(*p);
}

absl::StatusOr<StepOutput> CpuExecutor::Decode(int32_t token, int pos) {
  return PrefillSequence(absl::MakeConstSpan(&token, 1), pos, lone_table_);
}

absl::StatusOr<BatchOutput> CpuExecutor::DecodeBatch(absl::Span<const SequenceStep> rows, bool /*run_ahead*/) {
  RETURN_IF_ERROR(BuildBatchInputs(rows, &pos_, &tokens_));
  ASSIGN_OR_RETURN(Prepared * p, GetGraph(1, static_cast<int>(tokens_.size())));
  RETURN_IF_ERROR(Run(*p));
  return BatchOutputOf(*p, rows.size());
}

absl::StatusOr<BatchOutput> CpuExecutor::PrefillBatch(absl::Span<const PrefillChunk> chunks, int seq_len) {
  RETURN_IF_ERROR(BuildPrefillInputs(chunks, seq_len, &pos_, &tokens_, &last_));
  ASSIGN_OR_RETURN(Prepared * p, GetGraph(seq_len, static_cast<int>(chunks.size()), /*spans=*/true));
  RETURN_IF_ERROR(Run(*p));
  return BatchOutputOf(*p, chunks.size());
}

BatchOutput CpuExecutor::BatchOutputOf(Prepared& p, size_t rows) {
  const Value* out = p.graph.outputs()[0];
  const float* data = Buffer(p, out);
  BatchOutput result;
  if (greedy_) {
    result.tokens = absl::MakeConstSpan(reinterpret_cast<const int32_t*>(data), rows);
  } else {
    result.logits = absl::MakeConstSpan(data, rows * Cols(out));
  }
  return result;
}

absl::Status CpuExecutor::Run(Prepared& p) {
  for (const Node* n : p.graph.nodes()) {
    if (absl::Status s = RunNode(p, *n); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("node '%", n->name(), "': ", s.message()));
    }
  }
  return absl::OkStatus();
}

StepOutput CpuExecutor::Output(Prepared& p) {
  const Value* out = p.graph.outputs()[0];
  StepOutput result;
  if (out->type.dtype == DType::kI32) {
    result.token = *reinterpret_cast<const int32_t*>(Buffer(p, out));
  } else {
    result.logits = absl::MakeConstSpan(Buffer(p, out), out->type.elements());
  }
  return result;
}

absl::Status CpuExecutor::RunNode(Prepared& p, const Node& n) {
  const auto& in = n.operands;
  auto f = [&](int i) -> absl::StatusOr<const float*> {
    const Value* v = in[i];
    if (v->kind == ValueKind::kParam) return Param(v);
    return Buffer(p, v);
  };
  auto out = [&](int i) { return Buffer(p, n.results[i]); };
  // The optional Q, K, V biases of fused_bias_rope and fused_rope_attention.
  auto qkv_biases = [&]() -> absl::StatusOr<std::array<const float*, 3>> {
    std::array<const float*, 3> b = {nullptr, nullptr, nullptr};
    if (const int first = QkvBiasOperand(n); first >= 0) {
      for (int i = 0; i < 3; ++i) {
        ASSIGN_OR_RETURN(b[i], f(first + i));
      }
    }
    return b;
  };
  // Calls fn(first_row, rows, position, block_table) for each sequence among the node's `rows` rows: once
  // for a prefill, once per live span of a batched step (RowPosition). The table is null when %pos carries
  // only the position (hand-written graphs).
  auto for_each_sequence = [&](int pos_operand, int rows, auto fn) -> absl::Status {
    const Value& pos = *in[pos_operand];
    const int stride = PosStride(pos);
    const int32_t* table = BlockTablePages(pos) > 0 ? pos_.data() + 1 : nullptr;
    if (stride == 0) return fn(0, rows, pos_[0], table);
    const int span = static_cast<int>(PosSpan(pos, rows));
    for (int r = 0; r < rows; r += span) {
      const int position = RowPosition(pos_.data(), stride, r, span);
      if (position >= 0) RETURN_IF_ERROR(fn(r, span, position, RowBlockTable(table, stride, r, span)));
    }
    return absl::OkStatus();
  };
  auto f16 = [&](int cache_operand) { return in[cache_operand]->type.dtype == DType::kF16; };
  auto rope_params = [&](const RopeAttrs& a) -> absl::StatusOr<cpu::RopeParams> {
    cpu::RopeParams r{a.theta, a.dims, a.head_dim, a.neox, a.freq_scale, nullptr};
    if (const Value* factors = RopeFreqFactors(n)) {
      ASSIGN_OR_RETURN(r.freq_factors, Param(factors));
    }
    return r;
  };
  switch (n.op) {
    case OpKind::kEmbedding: {
      ASSIGN_OR_RETURN(const float* table, f(1));
      for (int32_t id : tokens_) {
        RET_CHECK(id >= 0 && id < Rows(in[1]), "token id ", id, " is outside the vocabulary of ", Rows(in[1]));
      }
      const auto* a = std::get_if<EmbeddingAttrs>(&n.attrs);
      cpu::Embedding(tokens_.data(), static_cast<int>(tokens_.size()), table, Cols(in[1]),
                     a != nullptr ? a->scale : 1.0f, out(0));
      return absl::OkStatus();
    }
    case OpKind::kRmsNorm: {
      ASSIGN_OR_RETURN(const float* x, f(0));
      ASSIGN_OR_RETURN(const float* w, f(1));
      // A weight narrower than the row normalises each head-wide slice on its own.
      const int width = static_cast<int>(in[1]->type.shape[0]);
      cpu::RmsNorm(x, w, Rows(in[0]) * (Cols(in[0]) / width), width, std::get<RmsNormAttrs>(n.attrs).eps, out(0));
      return absl::OkStatus();
    }
    case OpKind::kFusedResidualRmsNorm: {
      ASSIGN_OR_RETURN(const float* x, f(0));
      ASSIGN_OR_RETURN(const float* r, f(1));
      ASSIGN_OR_RETURN(const float* w, f(2));
      cpu::ResidualRmsNorm(x, r, w, Rows(in[0]), Cols(in[0]), std::get<RmsNormAttrs>(n.attrs).eps, out(0),
                           out(1));
      return absl::OkStatus();
    }
    case OpKind::kMatmul:
    case OpKind::kMultiMatmul: {
      ASSIGN_OR_RETURN(const float* x, f(0));
      for (size_t i = 1; i < in.size(); ++i) {
        ASSIGN_OR_RETURN(const float* w, f(i));
        cpu::Matmul(x, w, Rows(in[0]), Cols(in[0]), Rows(in[i]), out(i - 1));
      }
      return absl::OkStatus();
    }
    case OpKind::kFusedGateUpSwiglu: {
      ASSIGN_OR_RETURN(const float* x, f(0));
      ASSIGN_OR_RETURN(const float* wg, f(1));
      ASSIGN_OR_RETURN(const float* wu, f(2));
      cpu::GateUpSwiglu(x, wg, wu, Rows(in[0]), Cols(in[0]), Rows(in[1]), out(0));
      return absl::OkStatus();
    }
    case OpKind::kFusedNormMatmul:
    case OpKind::kFusedNormGateUpSwiglu: {
      // The reference normalises into a temporary, then multiplies: the fused op's definition.
      ASSIGN_OR_RETURN(const float* x, f(0));
      ASSIGN_OR_RETURN(const float* g, f(1));
      const int rows = Rows(in[0]), k = Cols(in[0]);
      std::vector<float> h(static_cast<size_t>(rows) * k);
      cpu::RmsNorm(x, g, rows, k, std::get<RmsNormAttrs>(n.attrs).eps, h.data());
      if (n.op == OpKind::kFusedNormGateUpSwiglu) {
        ASSIGN_OR_RETURN(const float* wg, f(2));
        ASSIGN_OR_RETURN(const float* wu, f(3));
        cpu::GateUpSwiglu(h.data(), wg, wu, rows, k, Rows(in[2]), out(0));
        return absl::OkStatus();
      }
      for (size_t i = 2; i < in.size(); ++i) {
        ASSIGN_OR_RETURN(const float* w, f(i));
        cpu::Matmul(h.data(), w, rows, k, Rows(in[i]), out(i - 2));
      }
      return absl::OkStatus();
    }
    case OpKind::kFusedMatmulResidual: {
      ASSIGN_OR_RETURN(const float* a, f(0));
      ASSIGN_OR_RETURN(const float* w, f(1));
      ASSIGN_OR_RETURN(const float* r, f(2));
      cpu::MatmulResidual(a, w, r, Rows(in[0]), Cols(in[0]), Rows(in[1]), out(0));
      return absl::OkStatus();
    }
    case OpKind::kAdd: {
      ASSIGN_OR_RETURN(const float* a, f(0));
      ASSIGN_OR_RETURN(const float* b, f(1));
      if (in[1]->type.shape.size() == 1) {
        cpu::AddBias(a, b, Rows(in[0]), Cols(in[0]), out(0));
      } else {
        cpu::Add(a, b, Rows(in[0]), Cols(in[0]), out(0));
      }
      return absl::OkStatus();
    }
    case OpKind::kRope: {
      const auto& a = std::get<RopeAttrs>(n.attrs);
      ASSIGN_OR_RETURN(const float* x, f(0));
      float* y = out(0);
      std::copy(x, x + in[0]->type.elements(), y);
      ASSIGN_OR_RETURN(const cpu::RopeParams r, rope_params(a));
      const int cols = Cols(in[0]);
      return for_each_sequence(1, Rows(in[0]), [&](int row, int rows, int pos, const int32_t*) {
        cpu::Rope(r, y + static_cast<int64_t>(row) * cols, rows, cols / a.head_dim, pos);
        return absl::OkStatus();
      });
    }
    case OpKind::kKvWrite: {
      ASSIGN_OR_RETURN(const float* x, f(1));
      const int cols = Cols(in[1]);
      return for_each_sequence(2, Rows(in[1]), [&](int row, int rows, int pos, const int32_t* table) {
        cpu::KvWrite(x + static_cast<int64_t>(row) * cols, rows, cols, pos, table, f16(0), out(0));
        return absl::OkStatus();
      });
    }
    case OpKind::kFusedBiasRope: {
      const auto& a = std::get<RopeAttrs>(n.attrs);
      ASSIGN_OR_RETURN(const float* q, f(0));
      ASSIGN_OR_RETURN(const float* k, f(1));
      ASSIGN_OR_RETURN(const float* v, f(2));
      ASSIGN_OR_RETURN(const auto bias, qkv_biases());
      ASSIGN_OR_RETURN(const cpu::RopeParams r, rope_params(a));
      const int q_cols = Cols(in[0]), kv_cols = Cols(in[1]);
      return for_each_sequence(3, Rows(in[0]), [&](int row, int rows, int pos, const int32_t* table) {
        const int64_t qo = static_cast<int64_t>(row) * q_cols, kvo = static_cast<int64_t>(row) * kv_cols;
        cpu::BiasRopeKv({r, rows, q_cols / a.head_dim, kv_cols / a.head_dim, pos, table, f16(4)}, q + qo, k + kvo,
                        v + kvo, bias[0], bias[1], bias[2], out(0) + qo, out(1), out(2));
        return absl::OkStatus();
      });
    }
    case OpKind::kFusedRopeAttention: {
      // The reference: the bias + RoPE + cache write, then attention over the caches.
      const auto& a = std::get<RopeAttentionAttrs>(n.attrs);
      ASSIGN_OR_RETURN(const float* q, f(0));
      ASSIGN_OR_RETURN(const float* k, f(1));
      ASSIGN_OR_RETURN(const float* v, f(2));
      ASSIGN_OR_RETURN(const auto bias, qkv_biases());
      std::vector<float> q_rot(in[0]->type.elements());
      ASSIGN_OR_RETURN(const cpu::RopeParams r, rope_params(a.rope));
      const int q_cols = Cols(in[0]), kv_cols = Cols(in[1]);
      return for_each_sequence(3, Rows(in[0]), [&](int row, int rows, int pos, const int32_t* table) {
        RET_CHECK(rows == 1, "fused_rope_attention handles one token per sequence");
        const int64_t qo = static_cast<int64_t>(row) * q_cols, kvo = static_cast<int64_t>(row) * kv_cols;
        cpu::BiasRopeKv({r, 1, a.attention.heads, a.attention.kv_heads, pos, table, f16(4)}, q + qo, k + kvo, v + kvo,
                        bias[0], bias[1], bias[2], q_rot.data() + qo, out(1), out(2));
        cpu::Attention({1, a.attention.heads, a.attention.kv_heads, a.attention.head_dim, pos, a.attention.scale,
                        a.attention.softcap, a.attention.window, table},
                       q_rot.data() + qo, out(1), out(2), out(0) + qo);
        return absl::OkStatus();
      });
    }
    case OpKind::kAttention: {
      const auto& a = std::get<AttentionAttrs>(n.attrs);
      ASSIGN_OR_RETURN(const float* q, f(0));
      ASSIGN_OR_RETURN(const float* kc, f(1));
      ASSIGN_OR_RETURN(const float* vc, f(2));
      const int cols = Cols(in[0]);
      return for_each_sequence(3, Rows(in[0]), [&](int row, int rows, int pos, const int32_t* table) {
        const int64_t o = static_cast<int64_t>(row) * cols;
        cpu::Attention({rows, a.heads, a.kv_heads, a.head_dim, pos, a.scale, a.softcap, a.window, table}, q + o, kc,
                       vc, out(0) + o);
        return absl::OkStatus();
      });
    }
    case OpKind::kSwiglu: {
      ASSIGN_OR_RETURN(const float* g, f(0));
      ASSIGN_OR_RETURN(const float* u, f(1));
      cpu::Swiglu(g, u, in[0]->type.elements(), out(0));
      return absl::OkStatus();
    }
    case OpKind::kGeglu: {
      ASSIGN_OR_RETURN(const float* g, f(0));
      ASSIGN_OR_RETURN(const float* u, f(1));
      cpu::Geglu(g, u, in[0]->type.elements(), out(0));
      return absl::OkStatus();
    }
    case OpKind::kSoftcap: {
      ASSIGN_OR_RETURN(const float* x, f(0));
      cpu::Softcap(x, in[0]->type.elements(), std::get<SoftcapAttrs>(n.attrs).cap, out(0));
      return absl::OkStatus();
    }
    case OpKind::kLastRow: {
      ASSIGN_OR_RETURN(const float* x, f(0));
      const int64_t cols = Cols(in[0]);
      // Without %last, the one sequence's last row; with it, row last[b] of each sequence's span.
      const int sequences = in.size() == 2 ? static_cast<int>(in[1]->type.shape[0]) : 1;
      const int span = Rows(in[0]) / sequences;
      for (int b = 0; b < sequences; ++b) {
        const int row = in.size() == 2 ? last_[b] : span - 1;
        RET_CHECK(row >= 0 && row < span, "last row ", row, " of a span of ", span);
        const float* from = x + (static_cast<int64_t>(b) * span + row) * cols;
        std::copy(from, from + cols, out(0) + b * cols);
      }
      return absl::OkStatus();
    }
    case OpKind::kArgmax: {
      ASSIGN_OR_RETURN(const float* x, f(0));
      const int cols = Cols(in[0]);
      for (int r = 0; r < Rows(in[0]); ++r) {
        reinterpret_cast<int32_t*>(out(0))[r] = cpu::Argmax(x + static_cast<int64_t>(r) * cols, cols);
      }
      return absl::OkStatus();
    }
    case OpKind::kFusedOutputArgmax: {
      ASSIGN_OR_RETURN(const float* x, f(0));
      ASSIGN_OR_RETURN(const float* w, f(1));
      *reinterpret_cast<int32_t*>(out(0)) = cpu::OutputArgmax(x, w, Cols(in[0]), Rows(in[1]));
      return absl::OkStatus();
    }
  }
  return absl::UnimplementedError(absl::StrCat("op ", OpName(n.op), " has no CPU kernel"));
}

}  // namespace ggrt
