#include "ops/cpu/elementwise.h"

#include <cmath>

#include "gtest/gtest.h"

namespace ggrt::cpu {
namespace {

TEST(ElementwiseTest, EmbeddingGathersRows) {
  const float table[] = {0, 1, 10, 11, 20, 21};
  const int32_t ids[] = {2, 0, 2};
  float out[6];
  Embedding(ids, 3, table, 2, out);
  EXPECT_EQ(std::vector<float>(out, out + 6), (std::vector<float>{20, 21, 0, 1, 20, 21}));
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
