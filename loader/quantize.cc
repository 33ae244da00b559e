// The arithmetic follows ggml-quants.c's reference quantizers step by step, in float, in the same order:
// bit-exact output depends on it (this file is built with -ffp-contract=off so that no multiply-add is
// fused where ggml's build does not fuse it).
#include "loader/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/fp16.h"
#include "base/quote.h"
#include "base/status_macros.h"
#include "loader/dequantize.h"
#include "loader/gguf_writer.h"

namespace ggrt {
namespace {

constexpr int kQK = 32;
constexpr int kQKK = 256;
constexpr float kGroupMaxEps = 1e-15f;

// Round to nearest (ties to even) through the float mantissa, as ggml's nearest_int.
int NearestInt(float f) {
  const float val = f + 12582912.f;
  int i;
  std::memcpy(&i, &val, 4);
  return (i & 0x007fffff) - 0x00400000;
}

void PutHalf(uint8_t* p, float f) {
  const uint16_t h = FloatToFp16(f);
  std::memcpy(p, &h, 2);
}
float Half(float f) { return Fp16ToFloat(FloatToFp16(f)); }

// --- Legacy 32-element blocks -------------------------------------------------------------------------

void QuantizeQ8_0(const float* x, uint8_t* b) {
  float amax = 0.0f;
  for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127;
  const float id = d ? 1.0f / d : 0.0f;
  PutHalf(b, d);
  for (int j = 0; j < kQK; ++j) b[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(std::roundf(x[j] * id)));
}

// Largest-magnitude value, sign kept (ties keep the first).
float SignedMax(const float* x, int n) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

void QuantizeQ4_0(const float* x, uint8_t* b) {
  const float d = SignedMax(x, kQK) / -8;
  const float id = d ? 1.0f / d : 0.0f;
  PutHalf(b, d);
  for (int j = 0; j < kQK / 2; ++j) {
    const uint8_t x0 = std::min<int8_t>(15, static_cast<int8_t>(x[j] * id + 8.5f));
    const uint8_t x1 = std::min<int8_t>(15, static_cast<int8_t>(x[kQK / 2 + j] * id + 8.5f));
    b[2 + j] = x0 | (x1 << 4);
  }
}

void MinMax(const float* x, int n, float* min, float* max) {
  *min = x[0], *max = x[0];
  for (int j = 1; j < n; ++j) *min = std::min(*min, x[j]), *max = std::max(*max, x[j]);
}

// Q4_1/Q5_1: scale (max - min) / levels and the min as f16 at the block's start; returns 1 / scale (0 for
// a constant block) and the min.
float ScaleAndMin(const float* x, int levels, uint8_t* b, float* min) {
  float max;
  MinMax(x, kQK, min, &max);
  const float d = (max - *min) / levels;
  PutHalf(b, d);
  PutHalf(b + 2, *min);
  return d ? 1.0f / d : 0.0f;
}

void QuantizeQ4_1(const float* x, uint8_t* b) {
  float min;
  const float id = ScaleAndMin(x, (1 << 4) - 1, b, &min);
  for (int j = 0; j < kQK / 2; ++j) {
    const uint8_t x0 = std::min<int8_t>(15, static_cast<int8_t>((x[j] - min) * id + 0.5f));
    const uint8_t x1 = std::min<int8_t>(15, static_cast<int8_t>((x[kQK / 2 + j] - min) * id + 0.5f));
    b[4 + j] = x0 | (x1 << 4);
  }
}

// Q5_0/Q5_1 store the low nibbles like Q4 and the fifth bits in a 32-bit mask before them.
void PackQ5(const uint8_t* q, uint8_t* qh_out, uint8_t* qs) {
  uint32_t qh = 0;
  for (int j = 0; j < kQK / 2; ++j) {
    qs[j] = (q[j] & 0x0f) | ((q[kQK / 2 + j] & 0x0f) << 4);
    qh |= ((q[j] & 0x10u) >> 4) << j;
    qh |= ((q[kQK / 2 + j] & 0x10u) >> 4) << (j + kQK / 2);
  }
  std::memcpy(qh_out, &qh, 4);
}

void QuantizeQ5_0(const float* x, uint8_t* b) {
  const float d = SignedMax(x, kQK) / -16;
  const float id = d ? 1.0f / d : 0.0f;
  PutHalf(b, d);
  uint8_t q[kQK];
  for (int j = 0; j < kQK; ++j) q[j] = std::min<int8_t>(31, static_cast<int8_t>(x[j] * id + 16.5f));
  PackQ5(q, b + 2, b + 6);
}

void QuantizeQ5_1(const float* x, uint8_t* b) {
  float min;
  const float id = ScaleAndMin(x, (1 << 5) - 1, b, &min);
  uint8_t q[kQK];
  for (int j = 0; j < kQK; ++j) q[j] = static_cast<uint8_t>((x[j] - min) * id + 0.5f);
  PackQ5(q, b + 4, b + 8);
}

// --- K-quant helpers (ggml's make_*_quants) -----------------------------------------------------------

// Scale and min of `n` values quantized to 0..nmax with per-value weights, refined over `nstep` trial
// scales; `L` gets the levels, `the_min` the (positive) offset.
float MakeQkx2Quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                     uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad) {
  float min = x[0], max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *the_min = -min;
    return 0.f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_mad = 0;
  for (int i = 0; i < n; ++i) {
    const int l = NearestInt(iscale * (x[i] - min));
    L[i] = std::max(0, std::min(nmax, l));
    float diff = scale * L[i] + min - x[i];
    diff = use_mad ? std::fabs(diff) : diff * diff;
    best_mad += weights[i] * diff;
  }
  if (nstep < 1) {
    *the_min = -min;
    return scale;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      int l = NearestInt(iscale * (x[i] - min));
      l = std::max(0, std::min(nmax, l));
      Laux[i] = l;
      const float w = weights[i];
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float mad = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * Laux[i] + this_min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        mad += weights[i] * diff;
      }
      if (mad < best_mad) {
        for (int i = 0; i < n; ++i) L[i] = Laux[i];
        best_mad = mad;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// Symmetric scale of `n` values quantized to -nmax..nmax-1 (stored + nmax), weights x^2 (rmse_type 1),
// refined over 18 trial scales.
// The symmetric quantizers' first pass: levels round(iscale * x) in -nmax..nmax-1 (stored + offset), with
// the x^2-weighted sums of l*x and l^2.
void SymmetricLevels(int n, int nmax, const float* x, float iscale, int offset, int8_t* L, float* sumlx,
                     float* suml2) {
  *sumlx = 0, *suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = NearestInt(iscale * x[i]);
    l = std::max(-nmax, std::min(nmax - 1, l));
    L[i] = l + offset;
    const float w = x[i] * x[i];
    *sumlx += w * x[i] * l;
    *suml2 += w * l * l;
  }
}

float MakeQxQuants(int n, int nmax, const float* x, int8_t* L) {
  const float max = SignedMax(x, n);
  if (std::fabs(max) < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  float iscale = -nmax / max;
  float sumlx, suml2;
  SymmetricLevels(n, nmax, x, iscale, nmax, L, &sumlx, &suml2);
  float scale = suml2 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(nmax + 0.1f * is) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      int l = NearestInt(iscale * x[i]);
      l = std::max(-nmax, std::min(nmax - 1, l));
      const float w = x[i] * x[i];
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) {
        const int l = NearestInt(iscale * x[i]);
        L[i] = nmax + std::max(-nmax, std::min(nmax - 1, l));
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// Q3_K's symmetric scale: levels -nmax..nmax-1 improved one at a time (weights x^2, up to 5 passes).
float MakeQ3Quants(int n, int nmax, const float* x, int8_t* L) {
  const float max = SignedMax(x, n);
  if (std::fabs(max) < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  const float iscale = -nmax / max;
  float sumlx, suml2;
  SymmetricLevels(n, nmax, x, iscale, 0, L, &sumlx, &suml2);
  for (int itry = 0; itry < 5; ++itry) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      float slx = sumlx - w * x[i] * L[i];
      if (slx > 0) {
        float sl2 = suml2 - w * L[i] * L[i];
        int new_l = NearestInt(x[i] * sl2 / slx);
        new_l = std::max(-nmax, std::min(nmax - 1, new_l));
        if (new_l != L[i]) {
          slx += w * x[i] * new_l;
          sl2 += w * new_l * new_l;
          if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = new_l;
            sumlx = slx;
            suml2 = sl2;
            ++n_changed;
          }
        }
      }
    }
    if (!n_changed) break;
  }
  for (int i = 0; i < n; ++i) L[i] += nmax;
  return sumlx / suml2;
}

// --- K-quant super-blocks of 256 ----------------------------------------------------------------------

void QuantizeQ2_K(const float* x, uint8_t* b) {
  uint8_t* scales_out = b;
  uint8_t* qs = b + 16;
  uint8_t L[kQKK], Laux[16];
  float weights[16], mins[16], scales[16];
  const float q4scale = 15.f;
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < kQKK / 16; ++j) {
    for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
    scales[j] = MakeQkx2Quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  std::memset(b, 0, 84);
  if (max_scale > 0) {
    const float iscale = q4scale / max_scale;
    for (int j = 0; j < 16; ++j) scales_out[j] = NearestInt(iscale * scales[j]);
    PutHalf(b + 80, max_scale / q4scale);
  }
  if (max_min > 0) {
    const float iscale = q4scale / max_min;
    for (int j = 0; j < 16; ++j) scales_out[j] |= NearestInt(iscale * mins[j]) << 4;
    PutHalf(b + 82, max_min / q4scale);
  }
  const float d_all = Fp16ToFloat(FloatToFp16(max_scale > 0 ? max_scale / q4scale : 0.f));
  const float dmin_all = Fp16ToFloat(FloatToFp16(max_min > 0 ? max_min / q4scale : 0.f));
  for (int j = 0; j < 16; ++j) {
    const float d = d_all * (scales_out[j] & 0xF);
    if (!d) continue;
    const float dm = dmin_all * (scales_out[j] >> 4);
    for (int ii = 0; ii < 16; ++ii) {
      const int l = NearestInt((x[16 * j + ii] + dm) / d);
      L[16 * j + ii] = std::max(0, std::min(3, l));
    }
  }
  for (int j = 0; j < kQKK; j += 128) {
    for (int l = 0; l < 32; ++l) {
      qs[j / 4 + l] = L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6);
    }
  }
}

void QuantizeQ3_K(const float* x, uint8_t* b) {
  uint8_t* hmask = b;
  uint8_t* qs = b + 32;
  uint8_t* sc = b + 96;
  int8_t L[kQKK];
  float scales[16];
  float max_scale = 0, amax = 0;
  for (int j = 0; j < 16; ++j) {
    scales[j] = MakeQ3Quants(16, 4, x + 16 * j, L + 16 * j);
    const float scale = std::fabs(scales[j]);
    if (scale > amax) {
      amax = scale;
      max_scale = scales[j];
    }
  }
  std::memset(b, 0, 110);
  float d_all = 0;
  if (max_scale) {
    const float iscale = -32.f / max_scale;
    for (int j = 0; j < 16; ++j) {
      int l = NearestInt(iscale * scales[j]);
      l = std::max(-32, std::min(31, l)) + 32;
      if (j < 8) {
        sc[j] = l & 0xF;
      } else {
        sc[j - 8] |= ((l & 0xF) << 4);
      }
      l >>= 4;
      sc[j % 4 + 8] |= (l << (2 * (j / 4)));
    }
    PutHalf(b + 108, 1 / iscale);
    d_all = Half(1 / iscale);
  }
  for (int j = 0; j < 16; ++j) {
    const float d = d_all * UnpackScaleQ3K(j, sc);
    if (!d) continue;
    for (int ii = 0; ii < 16; ++ii) {
      const int l = NearestInt(x[16 * j + ii] / d);
      L[16 * j + ii] = std::max(-4, std::min(3, l)) + 4;
    }
  }
  int m = 0;
  uint8_t hm = 1;
  for (int j = 0; j < kQKK; ++j) {
    if (L[j] > 3) {
      hmask[m] |= hm;
      L[j] -= 4;
    }
    if (++m == kQKK / 8) {
      m = 0;
      hm <<= 1;
    }
  }
  for (int j = 0; j < kQKK; j += 128) {
    for (int l = 0; l < 32; ++l) {
      qs[j / 4 + l] = L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6);
    }
  }
}

// Q4_K and Q5_K: eight sub-blocks of 32 with 6-bit scales and mins packed into 12 bytes.
void QuantizeScalesMinsK(const float* x, int nmax, float rmin, int nstep, uint8_t* L, uint8_t* packed, float* d_out,
                         float* dmin_out) {
  uint8_t Laux[32];
  float weights[32], mins[8], scales[8];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < kQKK / 32; ++j) {
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
    scales[j] = MakeQkx2Quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep, false);
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  std::memset(packed, 0, 12);
  for (int j = 0; j < kQKK / 32; ++j) {
    uint8_t ls = NearestInt(inv_scale * scales[j]);
    uint8_t lm = NearestInt(inv_min * mins[j]);
    ls = std::min<uint8_t>(63, ls);
    lm = std::min<uint8_t>(63, lm);
    if (j < 4) {
      packed[j] = ls;
      packed[j + 4] = lm;
    } else {
      packed[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4);
      packed[j - 4] |= ((ls >> 4) << 6);
      packed[j - 0] |= ((lm >> 4) << 6);
    }
  }
  *d_out = max_scale / 63.f;
  *dmin_out = max_min / 63.f;
  const float d_all = Half(*d_out), dmin_all = Half(*dmin_out);
  for (int j = 0; j < kQKK / 32; ++j) {
    uint8_t sc, m;
    UnpackScaleMinK4(j, packed, &sc, &m);
    const float d = d_all * sc;
    if (!d) continue;
    const float dm = dmin_all * m;
    for (int ii = 0; ii < 32; ++ii) {
      const int l = NearestInt((x[32 * j + ii] + dm) / d);
      L[32 * j + ii] = std::max(0, std::min(nmax, l));
    }
  }
}

void QuantizeQ4_K(const float* x, uint8_t* b) {
  uint8_t L[kQKK];
  float d, dmin;
  QuantizeScalesMinsK(x, 15, -1.f, 20, L, b + 4, &d, &dmin);
  PutHalf(b, d);
  PutHalf(b + 2, dmin);
  uint8_t* q = b + 16;
  for (int j = 0; j < kQKK; j += 64) {
    for (int l = 0; l < 32; ++l) q[l] = L[j + l] | (L[j + l + 32] << 4);
    q += 32;
  }
}

void QuantizeQ5_K(const float* x, uint8_t* b) {
  uint8_t L[kQKK];
  float d, dmin;
  QuantizeScalesMinsK(x, 31, -0.5f, 15, L, b + 4, &d, &dmin);
  PutHalf(b, d);
  PutHalf(b + 2, dmin);
  uint8_t* qh = b + 16;
  uint8_t* ql = b + 48;
  std::memset(qh, 0, 32);
  uint8_t m1 = 1, m2 = 2;
  for (int n = 0; n < kQKK; n += 64) {
    for (int j = 0; j < 32; ++j) {
      int l1 = L[n + j];
      if (l1 > 15) {
        l1 -= 16;
        qh[j] |= m1;
      }
      int l2 = L[n + j + 32];
      if (l2 > 15) {
        l2 -= 16;
        qh[j] |= m2;
      }
      ql[j] = l1 | (l2 << 4);
    }
    m1 <<= 2;
    m2 <<= 2;
    ql += 32;
  }
}

void QuantizeQ6_K(const float* x, uint8_t* b) {
  uint8_t* ql = b;
  uint8_t* qh = b + 128;
  int8_t* sc = reinterpret_cast<int8_t*>(b + 192);
  int8_t L[kQKK];
  float scales[16];
  float max_scale = 0, max_abs_scale = 0;
  for (int ib = 0; ib < 16; ++ib) {
    const float scale = MakeQxQuants(16, 32, x + 16 * ib, L + 16 * ib);
    scales[ib] = scale;
    const float abs_scale = std::fabs(scale);
    if (abs_scale > max_abs_scale) {
      max_abs_scale = abs_scale;
      max_scale = scale;
    }
  }
  std::memset(b, 0, 210);
  if (max_abs_scale < kGroupMaxEps) return;
  const float iscale = -128.f / max_scale;
  PutHalf(b + 208, 1 / iscale);
  const float d_all = Half(1 / iscale);
  for (int ib = 0; ib < 16; ++ib) sc[ib] = static_cast<int8_t>(std::min(127, NearestInt(iscale * scales[ib])));
  for (int j = 0; j < 16; ++j) {
    const float d = d_all * sc[j];
    if (!d) continue;
    for (int ii = 0; ii < 16; ++ii) {
      const int l = NearestInt(x[16 * j + ii] / d);
      L[16 * j + ii] = std::max(-32, std::min(31, l)) + 32;
    }
  }
  for (int j = 0; j < kQKK; j += 128) {
    for (int l = 0; l < 32; ++l) {
      const uint8_t q1 = L[j + l + 0] & 0xF, q2 = L[j + l + 32] & 0xF, q3 = L[j + l + 64] & 0xF,
                    q4 = L[j + l + 96] & 0xF;
      ql[l + 0] = q1 | (q3 << 4);
      ql[l + 32] = q2 | (q4 << 4);
      qh[l] = (L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
              ((L[j + l + 96] >> 4) << 6);
    }
    ql += 64;
    qh += 32;
  }
}

using BlockQuantizer = void (*)(const float*, uint8_t*);

BlockQuantizer QuantizerFor(DType t) {
  switch (t) {
    case DType::kQ8_0: return QuantizeQ8_0;
    case DType::kQ4_0: return QuantizeQ4_0;
    case DType::kQ4_1: return QuantizeQ4_1;
    case DType::kQ5_0: return QuantizeQ5_0;
    case DType::kQ5_1: return QuantizeQ5_1;
    case DType::kQ2_K: return QuantizeQ2_K;
    case DType::kQ3_K: return QuantizeQ3_K;
    case DType::kQ4_K: return QuantizeQ4_K;
    case DType::kQ5_K: return QuantizeQ5_K;
    case DType::kQ6_K: return QuantizeQ6_K;
    default: return nullptr;
  }
}

struct MixInfo {
  QuantMix mix;
  const char* name;
  DType base;
};
constexpr MixInfo kMixes[] = {
    {QuantMix::kQ8_0, "Q8_0", DType::kQ8_0},     {QuantMix::kQ4_0, "Q4_0", DType::kQ4_0},
    {QuantMix::kQ4_1, "Q4_1", DType::kQ4_1},     {QuantMix::kQ5_0, "Q5_0", DType::kQ5_0},
    {QuantMix::kQ5_1, "Q5_1", DType::kQ5_1},     {QuantMix::kQ2_K, "Q2_K", DType::kQ2_K},
    {QuantMix::kQ3_K_M, "Q3_K_M", DType::kQ3_K}, {QuantMix::kQ4_K_M, "Q4_K_M", DType::kQ4_K},
    {QuantMix::kQ5_K_M, "Q5_K_M", DType::kQ5_K}, {QuantMix::kQ6_K, "Q6_K", DType::kQ6_K},
};

const MixInfo& Info(QuantMix mix) {
  for (const MixInfo& m : kMixes) {
    if (m.mix == mix) return m;
  }
  return kMixes[0];
}

// llama.cpp's use_more_bits: the first and last eighth of the layers, and every third one between.
bool UseMoreBits(int i_layer, int n_layers) {
  return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

// Which tensors llama-quantize quantizes: 2-D or more weights, not positional or gating tables.
bool Quantizable(const GgufTensorInfo& t) {
  if (t.dims.size() < 2 || !absl::EndsWith(t.name, "weight")) return false;
  for (const char* skip : {"ffn_gate_inp.weight", "pos_embd", "token_types", "rope_freqs"}) {
    if (absl::StrContains(t.name, skip)) return false;
  }
  return true;
}

int LayerOf(const std::string& name) {
  int layer = -1;
  std::sscanf(name.c_str(), "blk.%d.", &layer);
  return layer;
}

}  // namespace

std::vector<const GgufTensorInfo*> QuantizeOrder(const GgufFile& file) {
  std::vector<const GgufTensorInfo*> order;
  for (const GgufTensorInfo& t : file.tensors()) order.push_back(&t);
  std::stable_sort(order.begin(), order.end(), [](const GgufTensorInfo* a, const GgufTensorInfo* b) {
    const int la = LayerOf(a->name), lb = LayerOf(b->name);
    return la != lb ? la < lb : a->name < b->name;
  });
  return order;
}

bool CanQuantize(DType t) { return QuantizerFor(t) != nullptr; }

absl::Status QuantizeRow(DType t, const float* x, int64_t n, uint8_t* out) {
  const BlockQuantizer q = QuantizerFor(t);
  if (q == nullptr) return absl::UnimplementedError(absl::StrCat("no quantizer for ", DTypeName(t)));
  const int64_t block = BlockElements(t);
  if (n % block != 0) {
    return absl::InvalidArgumentError(absl::StrCat(n, " elements is not a whole number of ", DTypeName(t), " blocks"));
  }
  for (int64_t i = 0; i < n / block; ++i) q(x + i * block, out + i * BlockBytes(t));
  return absl::OkStatus();
}

absl::StatusOr<QuantMix> QuantMixFromName(absl::string_view name) {
  for (const MixInfo& m : kMixes) {
    if (absl::EqualsIgnoreCase(name, m.name)) return m.mix;
  }
  std::string known;
  for (const MixInfo& m : kMixes) absl::StrAppend(&known, known.empty() ? "" : ", ", m.name);
  return absl::InvalidArgumentError(absl::StrCat("unknown quantization type ", Quote(name), " (known: ", known, ")"));
}

std::string QuantMixName(QuantMix mix) { return Info(mix).name; }

absl::StatusOr<std::vector<DType>> ChooseTensorTypes(const GgufFile& file, QuantMix mix) {
  ASSIGN_OR_RETURN(const std::string arch, file.GetString("general.architecture"));
  int64_t n_head = 1, n_head_kv = 1;
  if (file.Has(arch + ".attention.head_count")) {
    ASSIGN_OR_RETURN(n_head, file.GetInteger(arch + ".attention.head_count"));
    n_head_kv = n_head;
  }
  if (file.Has(arch + ".attention.head_count_kv")) {
    ASSIGN_OR_RETURN(n_head_kv, file.GetInteger(arch + ".attention.head_count_kv"));
  }
  const int64_t n_gqa = n_head_kv > 0 ? n_head / n_head_kv : 1;
  const bool has_output = file.FindTensor("output.weight") != nullptr;
  const std::vector<const GgufTensorInfo*> order = QuantizeOrder(file);
  int n_attn_v = 0, n_ffn_down = 0;
  for (const GgufTensorInfo* t : order) {
    n_attn_v += absl::StrContains(t->name, "attn_v.weight");
    n_ffn_down += absl::StrContains(t->name, "ffn_down");
  }
  const DType base = Info(mix).base;
  int i_attn_v = 0, i_ffn_down = 0;
  std::vector<DType> types;
  for (const GgufTensorInfo* tensor : order) {
    const GgufTensorInfo& t = *tensor;
    if (!Quantizable(t)) {
      types.push_back(t.dtype);
      continue;
    }
    if (t.dtype != DType::kF32 && t.dtype != DType::kF16 && t.dtype != DType::kBF16) {
      return absl::InvalidArgumentError(absl::StrCat(file.path(), ": tensor ", Quote(t.name), " is already ",
                                                     DTypeName(t.dtype), "; quantize from an F32, F16 or BF16 file"));
    }
    DType type = base;
    if (t.name == "output.weight" || (!has_output && t.name == "token_embd.weight")) {
      if (t.dims[0] % kQKK != 0) {
        type = DType::kQ8_0;
      } else if (type != DType::kQ8_0) {
        type = DType::kQ6_K;
      }
    } else if (absl::StrContains(t.name, "attn_v.weight")) {
      if (mix == QuantMix::kQ2_K) {
        type = n_gqa >= 4 ? DType::kQ4_K : DType::kQ3_K;
      } else if (mix == QuantMix::kQ3_K_M) {
        type = i_attn_v < 2 ? DType::kQ5_K : DType::kQ4_K;
      } else if ((mix == QuantMix::kQ4_K_M || mix == QuantMix::kQ5_K_M) && UseMoreBits(i_attn_v, n_attn_v)) {
        type = DType::kQ6_K;
      }
      ++i_attn_v;
    } else if (absl::StrContains(t.name, "ffn_down")) {
      const int i_layer = i_ffn_down, n_layer = n_ffn_down;
      if (mix == QuantMix::kQ2_K) {
        type = DType::kQ3_K;
      } else if (mix == QuantMix::kQ3_K_M) {
        type = i_layer < n_layer / 16 ? DType::kQ5_K : DType::kQ4_K;
      } else if ((mix == QuantMix::kQ4_K_M || mix == QuantMix::kQ5_K_M) && UseMoreBits(i_layer, n_layer)) {
        type = DType::kQ6_K;
      }
      ++i_ffn_down;
    } else if (absl::StrContains(t.name, "attn_output.weight")) {
      if (mix == QuantMix::kQ2_K) type = DType::kQ3_K;
      if (mix == QuantMix::kQ3_K_M) type = DType::kQ4_K;
    }
    // Rows that are no whole super-block fall back as llama-quantize does.
    if (t.dims[0] % BlockElements(type) != 0) {
      switch (type) {
        case DType::kQ4_K: type = DType::kQ5_0; break;
        case DType::kQ5_K: type = DType::kQ5_1; break;
        case DType::kQ6_K: type = DType::kQ8_0; break;
        default:
          return absl::UnimplementedError(absl::StrCat(
              file.path(), ": tensor ", Quote(t.name), " has rows of ", t.dims[0], " elements, not whole ",
              DTypeName(type), " blocks; llama-quantize would use iq4_nl, which ggrt does not write"));
      }
      if (t.dims[0] % BlockElements(type) != 0) {
        return absl::UnimplementedError(absl::StrCat(file.path(), ": tensor ", Quote(t.name), " has rows of ",
                                                     t.dims[0], " elements, which no supported type divides"));
      }
    }
    types.push_back(type);
  }
  return types;
}

absl::Status QuantizeModel(const GgufFile& file, QuantMix mix, const std::string& out_path) {
  ASSIGN_OR_RETURN(const std::vector<DType> types, ChooseTensorTypes(file, mix));
  GgufWriter w(static_cast<uint32_t>(file.alignment()));
  // llama-quantize (gguf_set_val) moves the keys it sets to the end.
  for (const auto& [key, value] : file.metadata()) {
    if (key != "general.quantization_version" && key != "general.file_type") w.Set(key, value);
  }
  w.SetU32("general.quantization_version", 2);
  w.SetU32("general.file_type", static_cast<uint32_t>(mix));
  const std::vector<const GgufTensorInfo*> order = QuantizeOrder(file);
  std::vector<float> row;
  for (size_t i = 0; i < order.size(); ++i) {
    const GgufTensorInfo& t = *order[i];
    const DType type = types[i];
    if (type == t.dtype) {
      RETURN_IF_ERROR(w.AddTensor(t.name, t.dtype, t.dims,
                                  std::string(reinterpret_cast<const char*>(t.data), t.bytes)));
      continue;
    }
    const int64_t n = t.dims[0], rows = t.elements() / n;
    const int64_t in_row = t.bytes / rows, out_row = RowBytes(type, n);
    std::string data(rows * out_row, '\0');
    row.resize(n);
    for (int64_t r = 0; r < rows; ++r) {
      RETURN_IF_ERROR(DequantizeRow(t.dtype, t.data + r * in_row, row.data(), n));
      RETURN_IF_ERROR(QuantizeRow(type, row.data(), n, reinterpret_cast<uint8_t*>(data.data()) + r * out_row));
    }
    RETURN_IF_ERROR(w.AddTensor(t.name, type, t.dims, std::move(data)));
  }
  return w.WriteFile(out_path);
}

}  // namespace ggrt
