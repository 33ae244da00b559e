// CPU reference dequantizers: GGUF block formats -> f32. These define what every faster path must match.
#ifndef GGRT_LOADER_DEQUANTIZE_H_
#define GGRT_LOADER_DEQUANTIZE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "loader/dtype.h"

namespace ggrt {

// Whether DequantizeRow supports `t`.
bool CanDequantize(DType t);

// Scale and min j (0..7) of a Q4_K/Q5_K super-block's 12 packed bytes of 6-bit values.
void UnpackScaleMinK4(int j, const uint8_t* packed, uint8_t* scale, uint8_t* min);
// Scale j (0..15) of a Q3_K super-block's 12 packed bytes: the 6-bit value less its offset of 32.
int UnpackScaleQ3K(int j, const uint8_t* packed);

// Converts `n` elements (a whole number of blocks) stored as `t` at `src` into f32 at `dst`.
absl::Status DequantizeRow(DType t, const void* src, float* dst, int64_t n);

}  // namespace ggrt

#endif  // GGRT_LOADER_DEQUANTIZE_H_
