// GPU test helpers: skip without a device, device buffers, NaN poisoning, weights in each dtype, and the
// relative error ||out - ref|| / ||ref||.
#ifndef GGRT_OPS_CUDA_TEST_UTIL_H_
#define GGRT_OPS_CUDA_TEST_UTIL_H_

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "base/fp16.h"
#include "gtest/gtest.h"
#include "loader/dequantize.h"
#include "loader/quantize.h"
#include "ops/cuda/q8_0_rows.h"
#include "ops/cuda/types.h"

namespace ggrt::cuda {

// Weights stored as `type`, plus the f32 values they stand for (the CPU reference's input).
struct TypedWeights {
  std::vector<uint8_t> bytes;
  std::vector<float> values;
};

inline bool HaveGpu() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

#define SKIP_WITHOUT_GPU() \
  if (!::ggrt::cuda::HaveGpu()) GTEST_SKIP() << "no CUDA device"

// A device allocation filled with NaN (0xff bytes) so that an unwritten element fails the comparison.
class DeviceBuffer {
 public:
  // `allocated` bytes (at least `bytes`) are allocated; the buffer is its first `bytes`.
  explicit DeviceBuffer(size_t bytes, size_t allocated = 0) : bytes_(bytes) {
    EXPECT_EQ(cudaMalloc(&ptr_, std::max<size_t>({bytes, allocated, 1})), cudaSuccess);
    Poison();
  }
  template <typename T>
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size() * sizeof(T)) {
    EXPECT_EQ(cudaMemcpy(ptr_, host.data(), bytes_, cudaMemcpyHostToDevice), cudaSuccess);
  }
  // Weights, allocated as the GEMV kernels require (WeightAllocationBytes).
  explicit DeviceBuffer(const TypedWeights& w)
      : DeviceBuffer(w.bytes.size(), WeightAllocationBytes(static_cast<int64_t>(w.bytes.size()))) {
    EXPECT_EQ(cudaMemcpy(ptr_, w.bytes.data(), bytes_, cudaMemcpyHostToDevice), cudaSuccess);
  }
  ~DeviceBuffer() { cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;

  void Poison() { EXPECT_EQ(cudaMemset(ptr_, 0xff, bytes_), cudaSuccess); }
  template <typename T>
  T* as() const { return static_cast<T*>(ptr_); }
  void* get() const { return ptr_; }
  template <typename T>
  std::vector<T> Download() const {
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    std::vector<T> out(bytes_ / sizeof(T));
    EXPECT_EQ(cudaMemcpy(out.data(), ptr_, bytes_, cudaMemcpyDeviceToHost), cudaSuccess);
    return out;
  }

 private:
  void* ptr_ = nullptr;
  size_t bytes_;
};

inline DType ToDType(WeightType t) {
  switch (t) {
    case WeightType::kF32: return DType::kF32;
    case WeightType::kF16: return DType::kF16;
    case WeightType::kBF16: return DType::kBF16;
    case WeightType::kQ8_0: return DType::kQ8_0;
    case WeightType::kQ4_0: return DType::kQ4_0;
    case WeightType::kQ4_1: return DType::kQ4_1;
    case WeightType::kQ5_0: return DType::kQ5_0;
    case WeightType::kQ5_1: return DType::kQ5_1;
    case WeightType::kQ2_K: return DType::kQ2_K;
    case WeightType::kQ3_K: return DType::kQ3_K;
    case WeightType::kQ4_K: return DType::kQ4_K;
    case WeightType::kQ5_K: return DType::kQ5_K;
    case WeightType::kQ6_K: return DType::kQ6_K;
    case WeightType::kQ8_0R: return DType::kQ8_0;  // Its values are Q8_0's (repacked by MakeWeights' caller).
  }
  return DType::kF32;
}

// Block formats: quantized with the CPU quantizer and dequantized again for the reference values; rows must
// be whole blocks (the flat vector is then quantized as its rows would be).
inline TypedWeights MakeWeights(const std::vector<float>& w, WeightType type) {
  if (type == WeightType::kQ8_0R) ADD_FAILURE() << "kQ8_0R rows come from MakeQ8_0Rows";
  TypedWeights out;
  out.values.resize(w.size());
  if (IsQuantized(type)) {
    const DType t = ToDType(type);
    out.bytes.resize(RowBytes(t, w.size()));
    EXPECT_TRUE(QuantizeRow(t, w.data(), w.size(), out.bytes.data()).ok());
    EXPECT_TRUE(DequantizeRow(t, out.bytes.data(), out.values.data(), w.size()).ok());
    return out;
  }
  if (type == WeightType::kF32) {
    out.values = w;
    out.bytes.resize(w.size() * 4);
    std::memcpy(out.bytes.data(), w.data(), out.bytes.size());
    return out;
  }
  out.bytes.resize(w.size() * 2);
  for (size_t i = 0; i < w.size(); ++i) {
    const uint16_t h = type == WeightType::kF16 ? FloatToFp16(w[i]) : FloatToBf16(w[i]);
    out.values[i] = type == WeightType::kF16 ? Fp16ToFloat(h) : Bf16ToFloat(h);
    std::memcpy(out.bytes.data() + 2 * i, &h, 2);
  }
  return out;
}

// n rows of k as ggrt's kQ8_0R rows (ops/cuda/q8_0_rows.h): quantized to Q8_0 as MakeWeights does, then
// repacked; the values are the blocks'.
inline TypedWeights MakeQ8_0Rows(const std::vector<float>& w, int n, int k) {
  const TypedWeights blocks = MakeWeights(w, WeightType::kQ8_0);
  TypedWeights out{std::vector<uint8_t>(n * Q8_0RowBytes(k)), blocks.values};
  EXPECT_TRUE(RepackQ8_0Rows(blocks.bytes.data(), n, k, out.bytes.data()).ok());
  return out;
}

inline double RelativeError(const std::vector<float>& out, const std::vector<float>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (std::isnan(out[i])) return INFINITY;  // Unwritten or broken: never passes.
    num += (static_cast<double>(out[i]) - ref[i]) * (static_cast<double>(out[i]) - ref[i]);
    den += static_cast<double>(ref[i]) * ref[i];
  }
  return std::sqrt(num / (den > 0 ? den : 1));
}

inline std::string TypeName(WeightType t) { return std::string(DTypeName(ToDType(t))); }

}  // namespace ggrt::cuda

#endif  // GGRT_OPS_CUDA_TEST_UTIL_H_
