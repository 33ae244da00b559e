// Shapes of graph values and their weight types, as the CUDA executor's files (memory and stepping in
// cuda_executor.cc, lowering in cuda_lowering.cc) read them.
#ifndef GGRT_RUNTIME_CUDA_VALUES_H_
#define GGRT_RUNTIME_CUDA_VALUES_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "base/quote.h"
#include "graph/graph.h"
#include "ops/cuda/types.h"
#include "ops/cuda/weight_type_of.h"

namespace ggrt {

inline int64_t Elements(const Value* v) { return v->type.elements(); }

inline absl::StatusOr<cuda::WeightType> ToWeightType(const Value* v) {
  if (const std::optional<cuda::WeightType> t = cuda::WeightTypeOf(v->type.dtype)) return *t;
  return absl::UnimplementedError(absl::StrCat("tensor ", Quote(v->name), " is ", DTypeName(v->type.dtype),
                                               "; the CUDA backend reads f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, "
                                               "q5_1, q2_k, q3_k, q4_k, q5_k and q6_k weights"));
}

}  // namespace ggrt

#endif  // GGRT_RUNTIME_CUDA_VALUES_H_
