// CPU reference dequantizers: GGUF block formats -> f32. These define what every faster path must match.
#ifndef GGRT_LOADER_DEQUANTIZE_H_
#define GGRT_LOADER_DEQUANTIZE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "loader/dtype.h"

namespace ggrt {

// Whether DequantizeRow supports `t`.
bool CanDequantize(DType t);

// Converts `n` elements (a whole number of blocks) stored as `t` at `src` into f32 at `dst`.
absl::Status DequantizeRow(DType t, const void* src, float* dst, int64_t n);

}  // namespace ggrt

#endif  // GGRT_LOADER_DEQUANTIZE_H_
