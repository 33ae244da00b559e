// Block layouts follow ggml's (ggml-common.h); each Dequantize* handles one block.
#include "loader/dequantize.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/fp16.h"

namespace ggrt {
namespace {

constexpr int kQK = 32;    // Elements per block of the legacy formats.
constexpr int kQKK = 256;  // Elements per K-quant super-block.

float LoadHalf(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return Fp16ToFloat(h);
}

// Q4_0: d:f16, qs[16]; x = (nibble - 8) * d; low nibbles are elements 0..15, high ones 16..31.
void DequantizeQ4_0(const uint8_t* b, float* y) {
  const float d = LoadHalf(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < kQK / 2; ++j) {
    y[j] = ((qs[j] & 0x0f) - 8) * d;
    y[j + kQK / 2] = ((qs[j] >> 4) - 8) * d;
  }
}

// Q4_1: d:f16, m:f16, qs[16]; x = nibble * d + m.
void DequantizeQ4_1(const uint8_t* b, float* y) {
  const float d = LoadHalf(b);
  const float m = LoadHalf(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < kQK / 2; ++j) {
    y[j] = (qs[j] & 0x0f) * d + m;
    y[j + kQK / 2] = (qs[j] >> 4) * d + m;
  }
}

// Q5_0: d:f16, qh:u32 (the fifth bits), qs[16]; x = (5-bit value - 16) * d.
void DequantizeQ5_0(const uint8_t* b, float* y) {
  const float d = LoadHalf(b);
  uint32_t qh;
  std::memcpy(&qh, b + 2, 4);
  const uint8_t* qs = b + 6;
  for (int j = 0; j < kQK / 2; ++j) {
    const int hi0 = ((qh >> j) << 4) & 0x10;
    const int hi1 = (qh >> (j + 12)) & 0x10;
    y[j] = (((qs[j] & 0x0f) | hi0) - 16) * d;
    y[j + kQK / 2] = (((qs[j] >> 4) | hi1) - 16) * d;
  }
}

// Q5_1: d:f16, m:f16, qh:u32, qs[16]; x = 5-bit value * d + m.
void DequantizeQ5_1(const uint8_t* b, float* y) {
  const float d = LoadHalf(b);
  const float m = LoadHalf(b + 2);
  uint32_t qh;
  std::memcpy(&qh, b + 4, 4);
  const uint8_t* qs = b + 8;
  for (int j = 0; j < kQK / 2; ++j) {
    const int hi0 = ((qh >> j) << 4) & 0x10;
    const int hi1 = (qh >> (j + 12)) & 0x10;
    y[j] = ((qs[j] & 0x0f) | hi0) * d + m;
    y[j + kQK / 2] = ((qs[j] >> 4) | hi1) * d + m;
  }
}

// Q8_0: d:f16, qs:i8[32]; x = q * d.
void DequantizeQ8_0(const uint8_t* b, float* y) {
  const float d = LoadHalf(b);
  const int8_t* qs = reinterpret_cast<const int8_t*>(b + 2);
  for (int j = 0; j < kQK; ++j) y[j] = qs[j] * d;
}

// Q8_K: d:f32, qs:i8[256], bsums:i16[16] (sums used only by dot products); x = q * d.
void DequantizeQ8_K(const uint8_t* b, float* y) {
  float d;
  std::memcpy(&d, b, 4);
  const int8_t* qs = reinterpret_cast<const int8_t*>(b + 4);
  for (int j = 0; j < kQKK; ++j) y[j] = qs[j] * d;
}

// Q4_K: d:f16, dmin:f16, scales[12], qs[128]; eight sub-blocks of 32, x = d*sc*q - dmin*m.
void DequantizeQ4_K(const uint8_t* b, float* y) {
  const float d = LoadHalf(b);
  const float dmin = LoadHalf(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* q = b + 16;
  int is = 0;
  for (int j = 0; j < kQKK; j += 64) {
    uint8_t sc, m;
    UnpackScaleMinK4(is, scales, &sc, &m);
    const float d1 = d * sc, m1 = dmin * m;
    UnpackScaleMinK4(is + 1, scales, &sc, &m);
    const float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0x0f) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
    q += 32;
    is += 2;
  }
}

// Q5_K: d:f16, dmin:f16, scales[12], qh[32], qs[128]; like Q4_K with a fifth bit from qh.
void DequantizeQ5_K(const uint8_t* b, float* y) {
  const float d = LoadHalf(b);
  const float dmin = LoadHalf(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* ql = b + 48;
  int is = 0;
  uint8_t u1 = 1, u2 = 2;
  for (int j = 0; j < kQKK; j += 64) {
    uint8_t sc, m;
    UnpackScaleMinK4(is, scales, &sc, &m);
    const float d1 = d * sc, m1 = dmin * m;
    UnpackScaleMinK4(is + 1, scales, &sc, &m);
    const float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0x0f) + (qh[l] & u1 ? 16 : 0)) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
    ql += 32;
    is += 2;
    u1 <<= 2;
    u2 <<= 2;
  }
}

// Q2_K: scales[16] (low nibble scale, high nibble min of each 16 elements), qs[64] (2 bits each), d:f16,
// dmin:f16; x = d * scale * q - dmin * min. Each 128 elements take 32 bytes of qs, four 2-bit planes deep.
void DequantizeQ2_K(const uint8_t* b, float* y) {
  const uint8_t* scales = b;
  const uint8_t* q = b + 16;
  const float d = LoadHalf(b + 80);
  const float dmin = LoadHalf(b + 82);
  int is = 0;
  for (int n = 0; n < kQKK; n += 128) {
    for (int shift = 0; shift < 8; shift += 2) {
      for (int half = 0; half < 2; ++half) {
        const uint8_t sc = scales[is++];
        const float dl = d * (sc & 0x0f), ml = dmin * (sc >> 4);
        for (int l = 0; l < 16; ++l) *y++ = dl * ((q[l + 16 * half] >> shift) & 3) - ml;
      }
    }
    q += 32;
  }
}

// Q3_K: hmask[32] (high bit, set = no offset), qs[64] (low 2 bits), scales[12] (sixteen 6-bit scales: low
// nibbles in bytes 0..7, high 2 bits packed in bytes 8..11), d:f16; x = d * (scale - 32) * (q - 4 * !high).
void DequantizeQ3_K(const uint8_t* b, float* y) {
  const uint8_t* hm = b;
  const uint8_t* q = b + 32;
  const uint8_t* packed = b + 96;
  const float d = LoadHalf(b + 108);
  int8_t scales[16];
  for (int i = 0; i < 16; ++i) scales[i] = static_cast<int8_t>(UnpackScaleQ3K(i, packed));
  int is = 0;
  uint8_t m = 1;
  for (int n = 0; n < kQKK; n += 128) {
    for (int shift = 0; shift < 8; shift += 2, m <<= 1) {
      for (int half = 0; half < 2; ++half) {
        const float dl = d * scales[is++];
        for (int l = 0; l < 16; ++l) {
          const int k = l + 16 * half;
          *y++ = dl * (((q[k] >> shift) & 3) - ((hm[k] & m) ? 0 : 4));
        }
      }
    }
    q += 32;
  }
}

// Q6_K: ql[128] (low 4 bits), qh[64] (high 2 bits), scales:i8[16], d:f16; x = d * scale * (q - 32).
void DequantizeQ6_K(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = LoadHalf(b + 208);
  for (int n = 0; n < kQKK; n += 128) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * sc[is + 0] * q1;
      y[l + 32] = d * sc[is + 2] * q2;
      y[l + 64] = d * sc[is + 4] * q3;
      y[l + 96] = d * sc[is + 6] * q4;
    }
    y += 128;
    ql += 64;
    qh += 32;
    sc += 8;
  }
}

using BlockFn = void (*)(const uint8_t*, float*);

BlockFn BlockDequantizer(DType t) {
  switch (t) {
    case DType::kQ4_0: return DequantizeQ4_0;
    case DType::kQ4_1: return DequantizeQ4_1;
    case DType::kQ5_0: return DequantizeQ5_0;
    case DType::kQ5_1: return DequantizeQ5_1;
    case DType::kQ8_0: return DequantizeQ8_0;
    case DType::kQ8_K: return DequantizeQ8_K;
    case DType::kQ2_K: return DequantizeQ2_K;
    case DType::kQ3_K: return DequantizeQ3_K;
    case DType::kQ4_K: return DequantizeQ4_K;
    case DType::kQ5_K: return DequantizeQ5_K;
    case DType::kQ6_K: return DequantizeQ6_K;
    default: return nullptr;
  }
}

}  // namespace

void UnpackScaleMinK4(int j, const uint8_t* q, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
    *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

int UnpackScaleQ3K(int j, const uint8_t* packed) {
  const int low = j < 8 ? packed[j] & 0x0f : packed[j - 8] >> 4;
  const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
  return (low | (high << 4)) - 32;
}

bool CanDequantize(DType t) {
  return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16 || BlockDequantizer(t) != nullptr;
}

absl::Status DequantizeRow(DType t, const void* src, float* dst, int64_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(src);
  switch (t) {
    case DType::kF32:
      std::memcpy(dst, src, n * sizeof(float));
      return absl::OkStatus();
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = LoadHalf(p + 2 * i);
      return absl::OkStatus();
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t b;
        std::memcpy(&b, p + 2 * i, 2);
        dst[i] = Bf16ToFloat(b);
      }
      return absl::OkStatus();
    default:
      break;
  }
  BlockFn fn = BlockDequantizer(t);
  if (fn == nullptr) {
    return absl::UnimplementedError(absl::StrCat("no dequantizer for data type ", DTypeName(t)));
  }
  const int64_t block = BlockElements(t);
  if (n % block != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(n, " elements is not a whole number of ", DTypeName(t), " blocks"));
  }
  const int64_t bytes = BlockBytes(t);
  for (int64_t i = 0; i < n / block; ++i) fn(p + i * bytes, dst + i * block);
  return absl::OkStatus();
}

}  // namespace ggrt
