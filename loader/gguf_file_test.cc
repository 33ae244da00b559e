#include "loader/gguf_file.h"

#include <cmath>
#include <cstdio>
#include <cstring>

#include "gtest/gtest.h"
#include "loader/dequantize.h"
#include "loader/gguf_corpus.h"
#include "loader/gguf_writer.h"
#include "loader/quantize.h"

namespace ggrt {
namespace {

TEST(GgufFileTest, ParsesEveryValueTypeAndTensors) {
  const std::string bytes = ValidTestGguf();
  auto f = GgufFile::Parse(bytes, "valid.gguf");
  ASSERT_TRUE(f.ok()) << f.status();
  const GgufFile& g = **f;
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(*g.GetString("general.architecture"), "llama");
  EXPECT_EQ(*g.GetU32("test.u32"), 42u);
  EXPECT_EQ(*g.GetI32("test.i32"), -5);
  EXPECT_EQ(*g.GetU64("test.u64"), 1ull << 40);
  EXPECT_EQ(*g.GetF32("test.f32"), 0.5f);
  EXPECT_EQ(*g.GetBool("test.bool"), true);
  EXPECT_EQ(*g.GetInteger("test.u8"), 200);
  EXPECT_EQ(*g.GetInteger("test.i16"), -300);
  EXPECT_EQ(*g.GetFloat("test.f64"), 2.25);
  EXPECT_EQ(*g.GetStringArray("test.strings"), (std::vector<std::string>{"a", "bc", ""}));
  auto nested = g.GetArray("test.nested");
  ASSERT_TRUE(nested.ok());
  ASSERT_EQ((*nested)->size(), 2u);
  const GgufArray& inner = (*nested)->array_at(0);
  EXPECT_EQ(std::get<int64_t>(inner.at(1).data), 2);
  EXPECT_EQ(GgufValueToString(*g.Find("test.nested")), "[[1, 2], [3]]");

  ASSERT_EQ(g.tensors().size(), 2u);
  const GgufTensorInfo* t = *g.GetTensor("t.f32");
  EXPECT_EQ(t->dims, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(t->bytes, 24);
  float v;
  std::memcpy(&v, t->data + 4 * 5, 4);
  EXPECT_EQ(v, 7.5f);
  const GgufTensorInfo* q = *g.GetTensor("t.q8");
  EXPECT_EQ(q->dtype, DType::kQ8_0);
  EXPECT_EQ(q->offset % 32, 0u);
  EXPECT_EQ(q->data[0], 1);
}

TEST(GgufFileTest, VersionTwoParsesLikeThree) {
  std::string bytes = ValidTestGguf();
  const uint32_t two = 2;
  std::memcpy(&bytes[4], &two, 4);  // v2 and v3 share the layout (v3 only added big-endian files).
  auto f = GgufFile::Parse(bytes, "v2.gguf");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->version(), 2u);
  EXPECT_EQ(*(*f)->GetU32("test.u32"), 42u);
  EXPECT_EQ((*f)->tensors().size(), 2u);
}

TEST(GgufFileTest, AccessorErrorsNameKeyAndTypes) {
  const std::string bytes = ValidTestGguf();
  auto f = GgufFile::Parse(bytes, "valid.gguf");
  ASSERT_TRUE(f.ok());
  auto wrong = (*f)->GetU32("test.f32");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("'test.f32' has type f32, expected u32"), std::string::npos)
      << wrong.status();
  auto missing = (*f)->GetString("nope.key");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("nope.key"), std::string::npos);
  EXPECT_FALSE((*f)->GetStringArray("test.nested").ok());
  auto no_tensor = (*f)->GetTensor("blk.0.attn_q.weight");
  EXPECT_NE(no_tensor.status().message().find("blk.0.attn_q.weight"), std::string::npos);
}

TEST(GgufFileTest, CustomAlignmentIsHonoured) {
  GgufWriter w(64);
  ASSERT_TRUE(w.AddTensor("a", DType::kF32, {3}, std::string(12, 'a')).ok());
  ASSERT_TRUE(w.AddTensor("b", DType::kF32, {1}, std::string(4, 'b')).ok());
  const std::string bytes = w.Serialize();
  auto f = GgufFile::Parse(bytes, "aligned.gguf");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->alignment(), 64u);
  EXPECT_EQ((*f)->data_offset() % 64, 0u);
  EXPECT_EQ((*f)->FindTensor("b")->offset, 64u);
  EXPECT_EQ((*f)->FindTensor("b")->data[0], 'b');
}

TEST(GgufFileTest, EveryCorruptFileIsAClearError) {
  const auto corpus = CorruptGgufCorpus();
  EXPECT_GE(corpus.size(), 25u);
  for (const CorruptGguf& c : corpus) {
    auto f = GgufFile::Parse(c.bytes, c.name + ".gguf");
    ASSERT_FALSE(f.ok()) << c.name << " parsed although corrupt";
    const std::string msg(f.status().message());
    EXPECT_NE(msg.find(c.expected_error), std::string::npos) << c.name << ": " << msg;
    EXPECT_NE(msg.find(c.name + ".gguf"), std::string::npos) << c.name << ": error does not name the file";
  }
}

TEST(GgufFileTest, OpenMapsAFileAndReportsMissingOnes) {
  const std::string path = std::string(getenv("TEST_TMPDIR")) + "/x.gguf";
  GgufWriter w;
  w.SetString("general.name", "x");
  ASSERT_TRUE(w.WriteFile(path).ok());
  auto f = GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(*(*f)->GetString("general.name"), "x");
  auto missing = GgufFile::Open(path + ".nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

// A row view shares the source's bytes: a quantized fused matrix split into projections dequantizes to the
// source's rows; views out of range or over an existing name are errors.
TEST(GgufFileTest, RowViewsShareTheSourceRows) {
  const int cols = 64, rows = 6;
  std::vector<float> values(rows * cols);
  for (size_t i = 0; i < values.size(); ++i) values[i] = std::sin(0.37f * static_cast<float>(i));
  std::string q8(rows * RowBytes(DType::kQ8_0, cols), '\0');
  ASSERT_TRUE(QuantizeRow(DType::kQ8_0, values.data(), rows * cols, reinterpret_cast<uint8_t*>(q8.data())).ok());
  GgufWriter w;
  ASSERT_TRUE(w.AddTensor("blk.0.attn_qkv.weight", DType::kQ8_0, {cols, rows}, q8).ok());
  const std::string bytes = w.Serialize();
  auto f = GgufFile::Parse(bytes, "views.gguf");
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE((*f)->AddRowView("blk.0.attn_qkv.weight.k", "blk.0.attn_qkv.weight", 2, 3).ok());
  const GgufTensorInfo* full = (*f)->FindTensor("blk.0.attn_qkv.weight");
  const GgufTensorInfo* view = (*f)->FindTensor("blk.0.attn_qkv.weight.k");
  ASSERT_NE(view, nullptr);
  EXPECT_EQ(view->dims, (std::vector<int64_t>{cols, 3}));
  EXPECT_EQ(view->dtype, DType::kQ8_0);
  std::vector<float> all(rows * cols), part(3 * cols);
  ASSERT_TRUE(DequantizeRow(DType::kQ8_0, full->data, all.data(), rows * cols).ok());
  ASSERT_TRUE(DequantizeRow(DType::kQ8_0, view->data, part.data(), 3 * cols).ok());
  EXPECT_EQ(part, std::vector<float>(all.begin() + 2 * cols, all.begin() + 5 * cols));
  EXPECT_EQ((*f)->tensors().size(), 1u);  // Views are not listed.

  const absl::Status past_end = (*f)->AddRowView("x", "blk.0.attn_qkv.weight", 4, 3);
  EXPECT_NE(past_end.message().find("has no rows 4..6"), std::string::npos) << past_end;
  const absl::Status twice = (*f)->AddRowView("blk.0.attn_qkv.weight.k", "blk.0.attn_qkv.weight", 0, 1);
  EXPECT_NE(twice.message().find("exists already"), std::string::npos) << twice;
  const absl::Status missing = (*f)->AddRowView("y", "nope", 0, 1);
  EXPECT_NE(missing.message().find("'nope' not found"), std::string::npos) << missing;
}

}  // namespace
}  // namespace ggrt
