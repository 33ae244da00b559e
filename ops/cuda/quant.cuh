// GGUF block formats on the device: one function per type that decodes one 32-element chunk of a block
// (a legacy block is one chunk, a 256-element k-quant super-block eight) into floats, with the same
// formulas as the CPU dequantizers (loader/dequantize.cc), and one that dots such a chunk with 32 floats
// (DotChunk, the decode GEMVs' inner product). Every kernel that reads quantized weights -- the decode
// GEMVs, the embedding lookup, the prefill dequantization, the batched products -- goes through these, so a
// type is added or fixed in this file; quant_test runs both on the host against the CPU dequantizers.
//
// Blocks are only 2-byte aligned (e.g. Q8_0 is 34 bytes), so reads are 16-bit or bytes (the legacy types'
// DotChunk: the aligned words around the block). Scale-and-offset formats multiply and add with separate
// roundings (no fused multiply-add), so the decoded values equal the CPU dequantizer's bit for bit.
#ifndef GGRT_OPS_CUDA_QUANT_CUH_
#define GGRT_OPS_CUDA_QUANT_CUH_

#include <math.h>

#include <cstdint>
#include <cstring>

#include <cuda_fp16.h>

#include "ops/cuda/types.h"

namespace ggrt::cuda {

// Host and device: the CPU test (quant_test.cc) runs these same functions against the CPU dequantizers.
#define GGRT_QUANT_FN __host__ __device__ __forceinline__

// The device intrinsics used here, with their host equivalents.
GGRT_QUANT_FN float MulRn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;  // Host code is built without floating-point contraction.
#endif
}
GGRT_QUANT_FN float AddRn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
GGRT_QUANT_FN uint32_t BytePerm(uint32_t x, uint32_t y, uint32_t selector) {
#ifdef __CUDA_ARCH__
  return __byte_perm(x, y, selector);
#else
  const uint64_t bytes = (static_cast<uint64_t>(y) << 32) | x;
  uint32_t r = 0;
  for (int i = 0; i < 4; ++i) r |= static_cast<uint32_t>(bytes >> (8 * ((selector >> (4 * i)) & 7)) & 0xff) << (8 * i);
  return r;
#endif
}
GGRT_QUANT_FN float AsFloat(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

template <WeightType T>
struct QuantTraits;
#define GGRT_QUANT_TRAITS(type, elements, bytes)      \
  template <>                                         \
  struct QuantTraits<WeightType::type> {              \
    static constexpr int kElements = elements;        \
    static constexpr int kBytes = bytes;              \
    static constexpr int kChunks = elements / 32;     \
  };
GGRT_QUANT_TRAITS(kQ8_0, 32, 34)
GGRT_QUANT_TRAITS(kQ4_0, 32, 18)
GGRT_QUANT_TRAITS(kQ4_1, 32, 20)
GGRT_QUANT_TRAITS(kQ5_0, 32, 22)
GGRT_QUANT_TRAITS(kQ5_1, 32, 24)
GGRT_QUANT_TRAITS(kQ2_K, 256, 84)
GGRT_QUANT_TRAITS(kQ3_K, 256, 110)
GGRT_QUANT_TRAITS(kQ4_K, 256, 144)
GGRT_QUANT_TRAITS(kQ5_K, 256, 176)
GGRT_QUANT_TRAITS(kQ6_K, 256, 210)
#undef GGRT_QUANT_TRAITS

GGRT_QUANT_FN float HalfToFloat(uint16_t bits) { return __half2float(__ushort_as_half(bits)); }
GGRT_QUANT_FN float LoadHalf(const uint8_t* p) { return HalfToFloat(*reinterpret_cast<const uint16_t*>(p)); }
// a * q + m, rounded after the product as the CPU computes it.
GGRT_QUANT_FN float MulAdd(float a, float q, float m) { return AddRn(MulRn(a, q), m); }

GGRT_QUANT_FN uint32_t LoadU32Unaligned(const uint8_t* p) {  // p 2-byte aligned.
  const uint16_t* h = reinterpret_cast<const uint16_t*>(p);
  return h[0] | (static_cast<uint32_t>(h[1]) << 16);
}

// 6-bit scale and min j of a Q4_K/Q5_K super-block's 12 packed bytes.
GGRT_QUANT_FN void ScaleMinK4(int j, const uint8_t* q, int* scale, int* min) {
  if (j < 4) {
    *scale = q[j] & 63, *min = q[j + 4] & 63;
  } else {
    *scale = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
    *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Signed 6-bit scale j (of 16) of a Q3_K super-block's 12 packed bytes.
GGRT_QUANT_FN int ScaleK3(int j, const uint8_t* packed) {
  const int low = j < 8 ? packed[j] & 0x0f : packed[j - 8] >> 4;
  const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
  return (low | (high << 4)) - 32;
}

// Elements 32c .. 32c+31 of block `b` into w.
template <WeightType T>
GGRT_QUANT_FN void DecodeChunk(const uint8_t* b, int c, float (&w)[32]);

// A Q8_0 block's 32 values from its scale and its int8 quants (2-byte aligned), wherever they are stored.
GGRT_QUANT_FN void DecodeQ8_0(float d, const uint8_t* qs, float (&w)[32]) {
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    const uint16_t two = reinterpret_cast<const uint16_t*>(qs)[i];
    w[2 * i] = d * static_cast<int8_t>(two & 0xff);
    w[2 * i + 1] = d * static_cast<int8_t>(two >> 8);
  }
}

template <>
GGRT_QUANT_FN void DecodeChunk<WeightType::kQ8_0>(const uint8_t* b, int, float (&w)[32]) {
  DecodeQ8_0(LoadHalf(b), b + 2, w);
}

// Q4_0/Q4_1: nibbles, low ones are elements 0..15, high ones 16..31.
template <>
GGRT_QUANT_FN void DecodeChunk<WeightType::kQ4_0>(const uint8_t* b, int, float (&w)[32]) {
  const float d = LoadHalf(b);
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    const uint8_t q = b[2 + i];
    w[i] = d * ((q & 0x0f) - 8);
    w[i + 16] = d * ((q >> 4) - 8);
  }
}
template <>
GGRT_QUANT_FN void DecodeChunk<WeightType::kQ4_1>(const uint8_t* b, int, float (&w)[32]) {
  const float d = LoadHalf(b), m = LoadHalf(b + 2);
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    const uint8_t q = b[4 + i];
    w[i] = MulAdd(d, q & 0x0f, m);
    w[i + 16] = MulAdd(d, q >> 4, m);
  }
}
// Q5_0/Q5_1: the fifth bits in a 32-bit mask before the nibbles.
template <>
GGRT_QUANT_FN void DecodeChunk<WeightType::kQ5_0>(const uint8_t* b, int, float (&w)[32]) {
  const float d = LoadHalf(b);
  const uint32_t qh = LoadU32Unaligned(b + 2);
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    const uint8_t q = b[6 + i];
    w[i] = d * (static_cast<int>((q & 0x0f) | (((qh >> i) & 1) << 4)) - 16);
    w[i + 16] = d * (static_cast<int>((q >> 4) | (((qh >> (i + 16)) & 1) << 4)) - 16);
  }
}
template <>
GGRT_QUANT_FN void DecodeChunk<WeightType::kQ5_1>(const uint8_t* b, int, float (&w)[32]) {
  const float d = LoadHalf(b), m = LoadHalf(b + 2);
  const uint32_t qh = LoadU32Unaligned(b + 4);
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    const uint8_t q = b[8 + i];
    w[i] = MulAdd(d, (q & 0x0f) | (((qh >> i) & 1) << 4), m);
    w[i + 16] = MulAdd(d, (q >> 4) | (((qh >> (i + 16)) & 1) << 4), m);
  }
}

// Q2_K: chunk c = 32 elements of plane (c % 4) of half c / 4: two 16-element groups with their own scale
// and min (low/high nibble of scales[2c], scales[2c + 1]).
template <>
GGRT_QUANT_FN void DecodeChunk<WeightType::kQ2_K>(const uint8_t* b, int c, float (&w)[32]) {
  const float d = LoadHalf(b + 80), dmin = LoadHalf(b + 82);
  const uint8_t* q = b + 16 + 32 * (c / 4);
  const int shift = 2 * (c % 4);
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const uint8_t sc = b[2 * c + half];
    const float dl = d * (sc & 0x0f), ml = dmin * (sc >> 4);
#pragma unroll
    for (int l = 0; l < 16; ++l) w[16 * half + l] = MulAdd(dl, (q[16 * half + l] >> shift) & 3, -ml);
  }
}

// Q3_K: as Q2_K's layout for the low bits, the high bit of element i in hmask byte i % 32 at bit i / 32,
// 6-bit signed scales (offset 32) per 16 elements.
template <>
GGRT_QUANT_FN void DecodeChunk<WeightType::kQ3_K>(const uint8_t* b, int c, float (&w)[32]) {
  const uint8_t* hm = b;
  const uint8_t* q = b + 32 + 32 * (c / 4);
  const uint8_t* packed = b + 96;
  const float d = LoadHalf(b + 108);
  const int shift = 2 * (c % 4);
  const uint8_t m = 1u << c;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int j = 2 * c + half;
    const float dl = d * ScaleK3(j, packed);
#pragma unroll
    for (int l = 0; l < 16; ++l) {
      const int k = 16 * half + l;
      w[k] = dl * (((q[k] >> shift) & 3) - ((hm[k] & m) ? 0 : 4));
    }
  }
}

// Q4_K: chunk c = sub-block c: the low (c even) or high nibbles of qs[32 (c / 2) ...].
template <>
GGRT_QUANT_FN void DecodeChunk<WeightType::kQ4_K>(const uint8_t* b, int c, float (&w)[32]) {
  int sc, mn;
  ScaleMinK4(c, b + 4, &sc, &mn);
  const float d = LoadHalf(b) * sc, m = LoadHalf(b + 2) * mn;
  const uint8_t* q = b + 16 + 32 * (c / 2);
  const int shift = 4 * (c % 2);
#pragma unroll
  for (int l = 0; l < 32; ++l) w[l] = MulAdd(d, (q[l] >> shift) & 0x0f, -m);
}

// Q5_K: Q4_K plus a fifth bit: qh byte l, bit c.
template <>
GGRT_QUANT_FN void DecodeChunk<WeightType::kQ5_K>(const uint8_t* b, int c, float (&w)[32]) {
  int sc, mn;
  ScaleMinK4(c, b + 4, &sc, &mn);
  const float d = LoadHalf(b) * sc, m = LoadHalf(b + 2) * mn;
  const uint8_t* qh = b + 16;
  const uint8_t* ql = b + 48 + 32 * (c / 2);
  const int shift = 4 * (c % 2);
#pragma unroll
  for (int l = 0; l < 32; ++l) w[l] = MulAdd(d, ((ql[l] >> shift) & 0x0f) + (((qh[l] >> c) & 1) << 4), -m);
}

// Q6_K: half n = c / 4, quarter k = c % 4: low nibbles of ql[64n + 32 (k % 2) ...] (high nibbles for
// k >= 2), two bits of qh[32n ...] at 2k; scales per 16 elements.
template <>
GGRT_QUANT_FN void DecodeChunk<WeightType::kQ6_K>(const uint8_t* b, int c, float (&w)[32]) {
  const int n = c / 4, k = c % 4;
  const uint8_t* ql = b + 64 * n + 32 * (k % 2);
  const uint8_t* qh = b + 128 + 32 * n;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192) + 8 * n + 2 * k;
  const float d = LoadHalf(b + 208);
  const int shift = k < 2 ? 0 : 4;
#pragma unroll
  for (int l = 0; l < 32; ++l) {
    const int q = (((ql[l] >> shift) & 0x0f) | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
    w[l] = d * sc[l / 16] * q;
  }
}

// dot(chunk c of block b, x): the decode GEMVs' inner product, one per type. Each takes four weights'
// integer parts at once with byte-wise masks on a 32-bit word, turns each byte u into a float with the
// exponent trick (float bits 0x4B000000 | u = 2^23 + u, exact: a byte permute and one subtraction on the
// full-rate pipes, where an int-to-float conversion runs at a quarter rate), and applies the block's scales
// (and mins) to the sums. quant_test checks each against DecodeChunk's values.
template <WeightType T>
GGRT_QUANT_FN float DotChunk(const uint8_t* b, int c, const float (&x)[32]);

// acc + sum_j (byte j of v - bias) * x[j].
GGRT_QUANT_FN float DotBytes4(uint32_t v, float bias, const float* x, float acc) {
  const float base = 8388608.0f + bias;
  acc = fmaf(AsFloat(BytePerm(v, 0x4B000000u, 0x7440)) - base, x[0], acc);
  acc = fmaf(AsFloat(BytePerm(v, 0x4B000000u, 0x7441)) - base, x[1], acc);
  acc = fmaf(AsFloat(BytePerm(v, 0x4B000000u, 0x7442)) - base, x[2], acc);
  return fmaf(AsFloat(BytePerm(v, 0x4B000000u, 0x7443)) - base, x[3], acc);
}
// Bits 0..3 of `bits` to bit 4 of bytes 0..3 (the fifth bit of four 5-bit values).
GGRT_QUANT_FN uint32_t FifthBits4(uint32_t bits) {
  return ((bits & 0x0f) * 0x00204081u & 0x01010101u) << 4;  // Bit j to bit 8 j (no carries), then to 8 j + 4.
}
GGRT_QUANT_FN float SumX(const float (&x)[32], int from = 0, int count = 32) {
  float s = 0.0f;
#pragma unroll
  for (int i = 0; i < count; ++i) s += x[from + i];
  return s;
}

GGRT_QUANT_FN uint32_t LoadU32Aligned(const uint8_t* p) {  // p 4-byte aligned.
#ifdef __CUDA_ARCH__
  return *reinterpret_cast<const uint32_t*>(p);
#else
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
#endif
}

// A legacy block (kBytes from a 2-byte-aligned pointer) read as the aligned 32-bit words that cover it -- up
// to 2 bytes before and 4 after, which the caller must own -- and realigned with byte permutes: Q8_0, Q4_0 and
// Q5_0 blocks start at 2 mod 4 every other block, and two 16-bit shared-memory loads per word were a third of
// the decode GEMV's shared-memory wavefronts (PERF_NOTES.md, step 71: Q8_0 tg128 +3-5%). The k-quants' chunks
// measured no better this way (and took more registers), so they keep the 16-bit loads.
template <int kBytes>
struct AlignedBlock {
  static constexpr int kWords = (kBytes + 2 + 3) / 4;
  uint32_t w[kWords];
  bool shifted;  // The block starts at byte 2 of w[0].

  AlignedBlock() = default;  // For a caller that loads w itself (its loads issued ahead of the products).
  GGRT_QUANT_FN explicit AlignedBlock(const uint8_t* b) {
    shifted = (reinterpret_cast<uintptr_t>(b) & 3) != 0;
    const uint8_t* base = b - (shifted ? 2 : 0);
#pragma unroll
    for (int i = 0; i < kWords; ++i) w[i] = LoadU32Aligned(base + 4 * i);
  }
  // The 32 bits at byte `offset` (even).
  GGRT_QUANT_FN uint32_t U32(int offset) const {
    const uint32_t select = offset % 4 == 0 ? (shifted ? 0x5432 : 0x3210) : (shifted ? 0x7654 : 0x5432);
    return BytePerm(w[offset / 4], w[offset / 4 + 1], select);
  }
  // The f16 at byte `offset` (even), as a float: a shift of one word, where U32's byte permute measured
  // 0.5% slower end to end (H200, Q8_0 and Q4_0 tg128).
  GGRT_QUANT_FN float Half(int offset) const {
    const uint32_t word = offset % 4 == 0 ? (shifted ? w[offset / 4] >> 16 : w[offset / 4])
                                          : (shifted ? w[offset / 4 + 1] : w[offset / 4] >> 16);
    return HalfToFloat(static_cast<uint16_t>(word & 0xffff));
  }
};

GGRT_QUANT_FN float DotQ8_0(const AlignedBlock<34>& block, const float (&x)[32]) {
  float s0 = 0.0f, s1 = 0.0f;
#pragma unroll
  for (int i = 0; i < 8; i += 2) {
    s0 = DotBytes4(block.U32(2 + 4 * i) ^ 0x80808080u, 128.0f, x + 4 * i, s0);  // Biased to unsigned.
    s1 = DotBytes4(block.U32(6 + 4 * i) ^ 0x80808080u, 128.0f, x + 4 * i + 4, s1);
  }
  return block.Half(0) * (s0 + s1);
}
template <>
GGRT_QUANT_FN float DotChunk<WeightType::kQ8_0>(const uint8_t* b, int, const float (&x)[32]) {
  return DotQ8_0(AlignedBlock<34>(b), x);
}

// Q4_0/Q4_1/Q5_0/Q5_1: sum_i (q_i - bias) x_i, where byte i of the 16 at offset kQs holds element i (low
// nibble) and i + 16 (high nibble), and with a fifth bit, bit i of the 32-bit mask at kQh is element i's.
template <int kBytes, int kQs, int kQh>
GGRT_QUANT_FN float NibbleDot(const AlignedBlock<kBytes>& block, float bias, const float (&x)[32]) {
  uint32_t fifth = 0;
  if constexpr (kQh >= 0) fifth = block.U32(kQh);
  float s0 = 0.0f, s1 = 0.0f;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const uint32_t q = block.U32(kQs + 4 * i);
    uint32_t low = q & 0x0f0f0f0fu, high = (q >> 4) & 0x0f0f0f0fu;
    if constexpr (kQh >= 0) low |= FifthBits4(fifth >> (4 * i)), high |= FifthBits4(fifth >> (16 + 4 * i));
    s0 = DotBytes4(low, bias, x + 4 * i, s0);
    s1 = DotBytes4(high, bias, x + 16 + 4 * i, s1);
  }
  return s0 + s1;
}
template <>
GGRT_QUANT_FN float DotChunk<WeightType::kQ4_0>(const uint8_t* b, int, const float (&x)[32]) {
  const AlignedBlock<18> block(b);
  return block.Half(0) * NibbleDot<18, 2, -1>(block, 8.0f, x);
}
template <>
GGRT_QUANT_FN float DotChunk<WeightType::kQ4_1>(const uint8_t* b, int, const float (&x)[32]) {
  const AlignedBlock<20> block(b);
  return block.Half(0) * NibbleDot<20, 4, -1>(block, 0.0f, x) + block.Half(2) * SumX(x);
}
template <>
GGRT_QUANT_FN float DotChunk<WeightType::kQ5_0>(const uint8_t* b, int, const float (&x)[32]) {
  const AlignedBlock<22> block(b);
  return block.Half(0) * NibbleDot<22, 6, 2>(block, 16.0f, x);
}
template <>
GGRT_QUANT_FN float DotChunk<WeightType::kQ5_1>(const uint8_t* b, int, const float (&x)[32]) {
  const AlignedBlock<24> block(b);
  return block.Half(0) * NibbleDot<24, 8, 4>(block, 0.0f, x) + block.Half(2) * SumX(x);
}

// Q2_K/Q3_K: two 16-element halves per chunk, each with its own scale (and, for Q2_K, min). The sum over
// half `half` of chunk c's 2-bit plane at q; with kHighBit, bit c of the hmask bytes makes Q3_K's 3-bit
// value, biased by 4.
template <bool kHighBit>
GGRT_QUANT_FN float PlaneHalfDot(const uint8_t* q, const uint8_t* hmask, int c, int half, const float (&x)[32]) {
  const int shift = 2 * (c % 4);
  float s = 0.0f;
#pragma unroll
  for (int i = 4 * half; i < 4 * half + 4; ++i) {
    uint32_t v = (LoadU32Unaligned(q + 4 * i) >> shift) & 0x03030303u;
    if constexpr (kHighBit) v |= ((LoadU32Unaligned(hmask + 4 * i) >> c) & 0x01010101u) << 2;
    s = DotBytes4(v, kHighBit ? 4.0f : 0.0f, x + 4 * i, s);
  }
  return s;
}
template <>
GGRT_QUANT_FN float DotChunk<WeightType::kQ2_K>(const uint8_t* b, int c, const float (&x)[32]) {
  const float d = LoadHalf(b + 80), dmin = LoadHalf(b + 82);
  float sum = 0.0f;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const uint8_t sc = b[2 * c + half];
    sum += d * (sc & 0x0f) * PlaneHalfDot<false>(b + 16 + 32 * (c / 4), nullptr, c, half, x) -
           dmin * (sc >> 4) * SumX(x, 16 * half, 16);
  }
  return sum;
}
template <>
GGRT_QUANT_FN float DotChunk<WeightType::kQ3_K>(const uint8_t* b, int c, const float (&x)[32]) {
  const uint8_t* packed = b + 96;
  float sum = 0.0f;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int j = 2 * c + half;
    sum += ScaleK3(j, packed) * PlaneHalfDot<true>(b + 32 + 32 * (c / 4), b, c, half, x);
  }
  return LoadHalf(b + 108) * sum;
}

// Q4_K/Q5_K: d * sc * sum(q x) - dmin * mn * sum(x) over the sub-block.
template <>
GGRT_QUANT_FN float DotChunk<WeightType::kQ4_K>(const uint8_t* b, int c, const float (&x)[32]) {
  int sc, mn;
  ScaleMinK4(c, b + 4, &sc, &mn);
  const uint8_t* q = b + 16 + 32 * (c / 2);
  const int shift = 4 * (c % 2);
  float s0 = 0.0f, s1 = 0.0f;
#pragma unroll
  for (int i = 0; i < 8; i += 2) {
    s0 = DotBytes4((LoadU32Unaligned(q + 4 * i) >> shift) & 0x0f0f0f0fu, 0.0f, x + 4 * i, s0);
    s1 = DotBytes4((LoadU32Unaligned(q + 4 * i + 4) >> shift) & 0x0f0f0f0fu, 0.0f, x + 4 * i + 4, s1);
  }
  return LoadHalf(b) * sc * (s0 + s1) - LoadHalf(b + 2) * mn * SumX(x);
}
template <>
GGRT_QUANT_FN float DotChunk<WeightType::kQ5_K>(const uint8_t* b, int c, const float (&x)[32]) {
  int sc, mn;
  ScaleMinK4(c, b + 4, &sc, &mn);
  const uint8_t* qh = b + 16;
  const uint8_t* ql = b + 48 + 32 * (c / 2);
  const int shift = 4 * (c % 2);
  float s0 = 0.0f, s1 = 0.0f;
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    // Bit c of qh bytes 4i..4i+3 to bit 4 of each byte.
    const uint32_t high = ((LoadU32Unaligned(qh + 4 * i) >> c) & 0x01010101u) << 4;
    const uint32_t v = ((LoadU32Unaligned(ql + 4 * i) >> shift) & 0x0f0f0f0fu) | high;
    if (i % 2 == 0) {
      s0 = DotBytes4(v, 0.0f, x + 4 * i, s0);
    } else {
      s1 = DotBytes4(v, 0.0f, x + 4 * i, s1);
    }
  }
  return LoadHalf(b) * sc * (s0 + s1) - LoadHalf(b + 2) * mn * SumX(x);
}

// Q6_K: a scale per 16 elements.
template <>
GGRT_QUANT_FN float DotChunk<WeightType::kQ6_K>(const uint8_t* b, int c, const float (&x)[32]) {
  const int n = c / 4, k = c % 4;
  const uint8_t* ql = b + 64 * n + 32 * (k % 2);
  const uint8_t* qh = b + 128 + 32 * n;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192) + 8 * n + 2 * k;
  const int shift = k < 2 ? 0 : 4;
  float half[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    float s0 = 0.0f, s1 = 0.0f;
#pragma unroll
    for (int i = 4 * h; i < 4 * h + 4; ++i) {
      const uint32_t v = ((LoadU32Unaligned(ql + 4 * i) >> shift) & 0x0f0f0f0fu) |
                         (((LoadU32Unaligned(qh + 4 * i) >> (2 * k)) & 0x03030303u) << 4);
      if (i % 2 == 0) {
        s0 = DotBytes4(v, 32.0f, x + 4 * i, s0);
      } else {
        s1 = DotBytes4(v, 32.0f, x + 4 * i, s1);
      }
    }
    half[h] = sc[h] * (s0 + s1);
  }
  return LoadHalf(b + 208) * (half[0] + half[1]);
}

// Elements 32c .. 32c+31 of a kQ8_0R row of k elements (ops/cuda/types.h): the values Q8_0's DecodeChunk gives
// for the block they came from.
GGRT_QUANT_FN void DecodeQ8_0RChunk(const uint8_t* row, int k, int c, float (&w)[32]) {
  DecodeQ8_0(LoadHalf(row + k + 2 * c), row + 32 * c, w);
}

// Dispatches a runtime quantized WeightType to a template instantiation (not kQ8_0R, which has no blocks:
// the kernels that read it say so).
#define GGRT_DISPATCH_QUANT(type, T, ...)                                                            \
  switch (type) {                                                                                    \
    case WeightType::kQ8_0: { constexpr WeightType T = WeightType::kQ8_0; __VA_ARGS__; break; }       \
    case WeightType::kQ4_0: { constexpr WeightType T = WeightType::kQ4_0; __VA_ARGS__; break; }       \
    case WeightType::kQ4_1: { constexpr WeightType T = WeightType::kQ4_1; __VA_ARGS__; break; }       \
    case WeightType::kQ5_0: { constexpr WeightType T = WeightType::kQ5_0; __VA_ARGS__; break; }       \
    case WeightType::kQ5_1: { constexpr WeightType T = WeightType::kQ5_1; __VA_ARGS__; break; }       \
    case WeightType::kQ2_K: { constexpr WeightType T = WeightType::kQ2_K; __VA_ARGS__; break; }       \
    case WeightType::kQ3_K: { constexpr WeightType T = WeightType::kQ3_K; __VA_ARGS__; break; }       \
    case WeightType::kQ4_K: { constexpr WeightType T = WeightType::kQ4_K; __VA_ARGS__; break; }       \
    case WeightType::kQ5_K: { constexpr WeightType T = WeightType::kQ5_K; __VA_ARGS__; break; }       \
    case WeightType::kQ6_K: { constexpr WeightType T = WeightType::kQ6_K; __VA_ARGS__; break; }       \
    default: break;                                                                                  \
  }

// Elements 32c .. 32c+31 of a row of k elements: from its blocks (rows of whole blocks), or from kQ8_0R's row
// layout, whose values are Q8_0's. For the kernels that decode whole rows (the embedding, the dequantization,
// the small-batch products' chunk decode).
template <WeightType T>
GGRT_QUANT_FN void DecodeRowChunk(const uint8_t* row, int k, int c, float (&w)[32]) {
  if constexpr (T == WeightType::kQ8_0R) {
    DecodeQ8_0RChunk(row, k, c, w);
  } else {
    using Q = QuantTraits<T>;
    DecodeChunk<T>(row + (c / Q::kChunks) * Q::kBytes, c % Q::kChunks, w);
  }
}
__device__ __forceinline__ void DecodeRowChunkOf(WeightType type, const uint8_t* row, int k, int c, float (&w)[32]) {
  if (type == WeightType::kQ8_0R) {
    DecodeRowChunk<WeightType::kQ8_0R>(row, k, c, w);
    return;
  }
  GGRT_DISPATCH_QUANT(type, T, DecodeRowChunk<T>(row, k, c, w));
}

// Elements and bytes of one block of a runtime quantized type (zeros for other types).
struct BlockShape {
  int elements = 0;
  int bytes = 0;
};
__host__ __device__ inline BlockShape BlockShapeOf(WeightType t) {
  BlockShape s;
  GGRT_DISPATCH_QUANT(t, T, s = BlockShape{QuantTraits<T>::kElements, QuantTraits<T>::kBytes});
  return s;
}

// Bytes of a row of k elements (k whole blocks) of quantized type t; 0 for other types.
__host__ __device__ inline int64_t RowBytesOf(WeightType t, int k) {
  if (t == WeightType::kQ8_0R) return Q8_0RowBytes(k);
  const BlockShape s = BlockShapeOf(t);
  return s.elements == 0 ? 0 : static_cast<int64_t>(k) / s.elements * s.bytes;
}

}  // namespace ggrt::cuda

#endif  // GGRT_OPS_CUDA_QUANT_CUH_
