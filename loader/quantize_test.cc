#include "loader/quantize.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "gtest/gtest.h"
#include "loader/dequantize.h"
#include "loader/gguf_writer.h"

namespace ggrt {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

// llama-quantize's own output for each type (../shared/models/tiny-qwen2-256): the same file, byte for byte
// (metadata, tensor order, per-tensor types of the mixes, every block).
class QuantizeFixtureTest : public ::testing::TestWithParam<std::string> {};

TEST_P(QuantizeFixtureTest, ReproducesLlamaQuantizeByteForByte) {
  const std::string dir = "external/shared/models/tiny-qwen2-256/";
  auto in = GgufFile::Open(dir + "tiny-qwen2-256-f16.gguf");
  ASSERT_TRUE(in.ok()) << in.status();
  auto mix = QuantMixFromName(GetParam());
  ASSERT_TRUE(mix.ok()) << mix.status();
  const std::string out = TempPath("tiny-" + GetParam() + ".gguf");
  ASSERT_TRUE(QuantizeModel(**in, *mix, out).ok());
  const std::string got = ReadAll(out), want = ReadAll(dir + "tiny-qwen2-256-" + GetParam() + ".gguf");
  ASSERT_EQ(got.size(), want.size());
  size_t first_difference = 0;
  while (first_difference < got.size() && got[first_difference] == want[first_difference]) ++first_difference;
  EXPECT_EQ(first_difference, got.size()) << "first differing byte " << first_difference;
}

INSTANTIATE_TEST_SUITE_P(Types, QuantizeFixtureTest,
                         ::testing::Values("Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M",
                                           "Q6_K"));

// Quantize then dequantize random rows: the error relative to the data's RMS stays within each type's bound.
TEST(QuantizeTest, RoundTripErrorPerType) {
  const std::pair<DType, double> bounds[] = {{DType::kQ8_0, 0.01}, {DType::kQ6_K, 0.02}, {DType::kQ5_0, 0.05},
                                             {DType::kQ5_1, 0.05}, {DType::kQ5_K, 0.04}, {DType::kQ4_0, 0.1},
                                             {DType::kQ4_1, 0.1},  {DType::kQ4_K, 0.08}, {DType::kQ3_K, 0.2},
                                             {DType::kQ2_K, 0.4}};
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(4096), y(4096);
  for (float& v : x) v = normal(rng);
  for (const auto& [type, bound] : bounds) {
    std::vector<uint8_t> q(RowBytes(type, x.size()));
    ASSERT_TRUE(QuantizeRow(type, x.data(), x.size(), q.data()).ok());
    ASSERT_TRUE(DequantizeRow(type, q.data(), y.data(), y.size()).ok());
    double err = 0, ref = 0;
    for (size_t i = 0; i < x.size(); ++i) err += (x[i] - y[i]) * (x[i] - y[i]), ref += x[i] * x[i];
    EXPECT_LE(std::sqrt(err / ref), bound) << DTypeName(type);
    EXPECT_GT(std::sqrt(err / ref), bound / 50) << DTypeName(type) << ": too exact to be quantized";
  }
  // All-zero rows quantize to zeros.
  std::vector<float> zeros(256, 0.0f);
  for (const auto& [type, bound] : bounds) {
    std::vector<uint8_t> q(RowBytes(type, 256));
    ASSERT_TRUE(QuantizeRow(type, zeros.data(), 256, q.data()).ok());
    ASSERT_TRUE(DequantizeRow(type, q.data(), y.data(), 256).ok());
    for (int i = 0; i < 256; ++i) EXPECT_EQ(y[i], 0.0f) << DTypeName(type);
  }
}

TEST(QuantizeTest, ErrorsNameTheProblem) {
  EXPECT_NE(QuantMixFromName("Q7_K").status().message().find("unknown quantization type 'Q7_K'"), std::string::npos);
  EXPECT_EQ(*QuantMixFromName("q4_k_m"), QuantMix::kQ4_K_M);
  float x[48] = {};
  uint8_t out[64];
  EXPECT_FALSE(QuantizeRow(DType::kQ8_0, x, 48, out).ok());
  EXPECT_FALSE(QuantizeRow(DType::kF16, x, 32, out).ok());

  // A quantized input is refused (re-quantizing compounds the error).
  GgufWriter w;
  w.SetString("general.architecture", "llama");
  (void)w.AddTensor("blk.0.attn_q.weight", DType::kQ8_0, {32, 2}, std::string(68, '\0'));
  std::string bytes = w.Serialize();
  auto f = GgufFile::Parse(bytes, "q.gguf");
  ASSERT_TRUE(f.ok());
  EXPECT_NE(ChooseTensorTypes(**f, QuantMix::kQ4_0).status().message().find("is already q8_0"), std::string::npos);
  // Rows of 96: k-quants fall back (Q4_K -> Q5_0) as llama-quantize does; Q2_K's fallback is not written.
  GgufWriter v;
  v.SetString("general.architecture", "llama");
  (void)v.AddTensor("blk.0.attn_q.weight", DType::kF32, {96, 2}, std::string(96 * 2 * 4, '\0'));
  bytes = v.Serialize();
  f = GgufFile::Parse(bytes, "v.gguf");
  EXPECT_EQ((*ChooseTensorTypes(**f, QuantMix::kQ4_K_M))[0], DType::kQ5_0);
  EXPECT_NE(ChooseTensorTypes(**f, QuantMix::kQ2_K).status().message().find("iq4_nl"), std::string::npos);
}

}  // namespace
}  // namespace ggrt
