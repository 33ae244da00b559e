// Quantization into GGUF block formats, bit for bit as llama.cpp's reference quantizers (quantize_row_*_ref,
// used by llama-quantize without an importance matrix) write them, and llama-quantize's choice of type per
// tensor for each file type ("mix"), so that a file quantized here has the bytes of one llama-quantize writes.
#ifndef GGRT_LOADER_QUANTIZE_H_
#define GGRT_LOADER_QUANTIZE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loader/dtype.h"
#include "loader/gguf_file.h"

namespace ggrt {

// Whether QuantizeRow writes `t`.
bool CanQuantize(DType t);

// Quantizes `n` floats (a whole number of blocks) into `out` (RowBytes(t, n) bytes).
absl::Status QuantizeRow(DType t, const float* x, int64_t n, uint8_t* out);

// llama-quantize's file types (llama_ftype numbering, stored as general.file_type).
enum class QuantMix {
  kQ4_0 = 2, kQ4_1 = 3, kQ8_0 = 7, kQ5_0 = 8, kQ5_1 = 9, kQ2_K = 10, kQ3_K_M = 12, kQ4_K_M = 15, kQ5_K_M = 17,
  kQ6_K = 18,
};
// "Q4_K_M", "q8_0", ... (case-insensitive).
absl::StatusOr<QuantMix> QuantMixFromName(absl::string_view name);
std::string QuantMixName(QuantMix mix);

// llama-quantize's tensor order: tensors outside the layers first, then layer by layer, by name within each.
std::vector<const GgufTensorInfo*> QuantizeOrder(const GgufFile& file);

// The type llama-quantize gives each tensor of QuantizeOrder(file) under `mix` (tensors that stay as they
// are keep their type). Errors name a tensor whose rows fit only a type ggrt does not write.
absl::StatusOr<std::vector<DType>> ChooseTensorTypes(const GgufFile& file, QuantMix mix);

// Writes `file` quantized with `mix` to `out_path`: metadata copied, general.quantization_version and
// general.file_type set, tensors in QuantizeOrder.
absl::Status QuantizeModel(const GgufFile& file, QuantMix mix, const std::string& out_path);

}  // namespace ggrt

#endif  // GGRT_LOADER_QUANTIZE_H_
