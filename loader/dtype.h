// GGML tensor data types as stored in GGUF files: ids, block sizes and names.
//
// A quantized row of `n` elements is n / block_elements blocks of block_bytes each; rows always hold whole
// blocks, so a [rows, cols] tensor occupies rows * RowBytes(cols) bytes.
#ifndef GGRT_LOADER_DTYPE_H_
#define GGRT_LOADER_DTYPE_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ggrt {

// V(enum, ggml id, name, elements per block, bytes per block)
#define GGRT_DTYPE_LIST(V)       \
  V(kF32, 0, "f32", 1, 4)        \
  V(kF16, 1, "f16", 1, 2)        \
  V(kQ4_0, 2, "q4_0", 32, 18)    \
  V(kQ4_1, 3, "q4_1", 32, 20)    \
  V(kQ5_0, 6, "q5_0", 32, 22)    \
  V(kQ5_1, 7, "q5_1", 32, 24)    \
  V(kQ8_0, 8, "q8_0", 32, 34)    \
  V(kQ8_1, 9, "q8_1", 32, 36)    \
  V(kQ2_K, 10, "q2_k", 256, 84)  \
  V(kQ3_K, 11, "q3_k", 256, 110) \
  V(kQ4_K, 12, "q4_k", 256, 144) \
  V(kQ5_K, 13, "q5_k", 256, 176) \
  V(kQ6_K, 14, "q6_k", 256, 210) \
  V(kQ8_K, 15, "q8_k", 256, 292) \
  V(kI8, 24, "i8", 1, 1)         \
  V(kI16, 25, "i16", 1, 2)       \
  V(kI32, 26, "i32", 1, 4)       \
  V(kI64, 27, "i64", 1, 8)       \
  V(kF64, 28, "f64", 1, 8)       \
  V(kBF16, 30, "bf16", 1, 2)

enum class DType : uint32_t {
#define GGRT_DTYPE_ENUM(e, id, name, block, bytes) e = id,
  GGRT_DTYPE_LIST(GGRT_DTYPE_ENUM)
#undef GGRT_DTYPE_ENUM
};

// Maps a raw GGUF type id to a DType; unknown ids are an error naming the id.
absl::StatusOr<DType> DTypeFromId(uint32_t id);
absl::StatusOr<DType> DTypeFromName(absl::string_view name);

absl::string_view DTypeName(DType t);
int64_t BlockElements(DType t);
int64_t BlockBytes(DType t);

// Bytes of a row of `n` elements; n must be a multiple of BlockElements (see RowBytesChecked).
int64_t RowBytes(DType t, int64_t n);
absl::StatusOr<int64_t> RowBytesChecked(DType t, int64_t n);

bool IsQuantized(DType t);

}  // namespace ggrt

#endif  // GGRT_LOADER_DTYPE_H_
