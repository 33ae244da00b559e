#include "graph/op_kind.h"

#include "absl/strings/str_cat.h"

namespace ggrt {
namespace {

struct OpInfo {
  OpKind op;
  absl::string_view name;
  int operands;
  bool fused;
};

constexpr OpInfo kOps[] = {
#define GGRT_OP_INFO(e, name, operands, results, fused) {OpKind::e, name, operands, fused},
    GGRT_OP_LIST(GGRT_OP_INFO)
#undef GGRT_OP_INFO
};

}  // namespace

absl::string_view OpName(OpKind op) { return kOps[static_cast<int>(op)].name; }

absl::StatusOr<OpKind> OpKindFromName(absl::string_view name) {
  for (const OpInfo& info : kOps) {
    if (info.name == name) return info.op;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown op '", name, "'"));
}

bool IsFused(OpKind op) { return kOps[static_cast<int>(op)].fused; }
int OpOperandCount(OpKind op) { return kOps[static_cast<int>(op)].operands; }

int AliasedOperand(OpKind op, int result) {
  switch (op) {
    case OpKind::kKvWrite: return result == 0 ? 0 : -1;
    case OpKind::kFusedBiasRope:
    case OpKind::kFusedRopeAttention: return result == 1 ? 4 : result == 2 ? 5 : -1;
    default: return -1;
  }
}

}  // namespace ggrt
