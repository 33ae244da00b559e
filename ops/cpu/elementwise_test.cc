#include "ops/cpu/elementwise.h"

#include <cmath>

#include "gtest/gtest.h"

namespace ggrt::cpu {
namespace {

TEST(ElementwiseTest, EmbeddingGathersRows) {
  const float table[] = {0, 1, 10, 11, 20, 21};
  const int32_t ids[] = {2, 0, 2};
  float out[6];
  Embedding(ids, 3, table, 2, 1.0f, out);
  EXPECT_EQ(std::vector<float>(out, out + 6), (std::vector<float>{20, 21, 0, 1, 20, 21}));
  Embedding(ids, 3, table, 2, 0.5f, out);  // Gemma's scaled rows.
  EXPECT_EQ(std::vector<float>(out, out + 6), (std::vector<float>{10, 10.5, 0, 0.5, 10, 10.5}));
}

TEST(ElementwiseTest, GegluAndSoftcap) {
  // gelu_tanh values from PyTorch's gelu(approximate="tanh").
  EXPECT_NEAR(GeluTanh(1.0f), 0.8411920071f, 1e-7);
  EXPECT_NEAR(GeluTanh(-2.0f), -0.0454022884f, 1e-7);
  EXPECT_EQ(GeluTanh(0.0f), 0.0f);
  const float g[] = {1.0f, -2.0f}, u[] = {2.0f, 3.0f};
  float out[2];
  Geglu(g, u, 2, out);
  EXPECT_NEAR(out[0], 2 * 0.8411920071f, 1e-6);
  EXPECT_NEAR(out[1], 3 * -0.0454022884f, 1e-6);
  const float x[] = {0.0f, 30.0f, -1000.0f, 1.0f};
  float y[4];
  Softcap(x, 4, 30.0f, y);
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_NEAR(y[1], 30 * std::tanh(1.0), 1e-5);
  EXPECT_NEAR(y[2], -30.0f, 1e-5);  // Saturates at the cap.
  EXPECT_NEAR(y[3], 30 * std::tanh(1.0 / 30), 1e-6);
}

TEST(ElementwiseTest, AddAndBias) {
  const float a[] = {1, 2, 3, 4}, b[] = {10, 20, 30, 40}, bias[] = {100, 200};
  float out[4];
  Add(a, b, 2, 2, out);
  EXPECT_EQ(std::vector<float>(out, out + 4), (std::vector<float>{11, 22, 33, 44}));
  AddBias(a, bias, 2, 2, out);
  EXPECT_EQ(std::vector<float>(out, out + 4), (std::vector<float>{101, 202, 103, 204}));
}

TEST(ElementwiseTest, SwigluAndArgmax) {
  const float g[] = {0.0f, 1.0f, -2.0f}, u[] = {5.0f, 2.0f, 3.0f};
  float out[3];
  Swiglu(g, u, 3, out);
  EXPECT_FLOAT_EQ(out[0], 0.0f);
  EXPECT_NEAR(out[1], 2.0f / (1.0f + std::exp(-1.0f)), 1e-6);
  EXPECT_NEAR(out[2], 3.0f * -2.0f / (1.0f + std::exp(2.0f)), 1e-6);
  const float x[] = {1, 5, 3, 5};
  EXPECT_EQ(Argmax(x, 4), 1);  // First of the tied maxima.
}

}  // namespace
}  // namespace ggrt::cpu
