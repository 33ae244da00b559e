#include "graph/passes/fuse_output_argmax.h"

#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "graph/passes/pass_test_util.h"

namespace ggrt {
namespace {

constexpr char kHead[] = R"(graph t {
  input %x : f32[1,8]
  param %w : f16[32,8]
  %logits = matmul(%x, %w) : f32[1,32]
  %token = argmax(%logits) : i32[1]
  output %token
}
)";

TEST(FuseOutputArgmaxTest, Fuses) {
  FuseOutputArgmaxPass pass;
  auto r = RunPassOnText(pass, kHead);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->text, R"(graph t {
  input %x : f32[1,8]
  param %w : f16[32,8]
  %token = fused_output_argmax(%x, %w) : i32[1]
  output %token
}
)");
}

TEST(FuseOutputArgmaxTest, DoesNotFuseWhenLogitsAreAlsoAnOutput) {
  FuseOutputArgmaxPass pass;
  const std::string text = absl::StrReplaceAll(kHead, {{"  output %token\n", "  output %token\n  output %logits\n"}});
  auto r = RunPassOnText(pass, text);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->changed);
  EXPECT_EQ(r->text, text);
}

TEST(FuseOutputArgmaxTest, DoesNotFuseABatchedStep) {
  FuseOutputArgmaxPass pass;
  const std::string text = absl::StrReplaceAll(kHead, {{"f32[1,8]", "f32[4,8]"}, {"f32[1,32]", "f32[4,32]"},
                                                       {"i32[1]", "i32[4]"}});
  auto r = RunPassOnText(pass, text);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->changed);
  EXPECT_EQ(r->text, text);
}

}  // namespace
}  // namespace ggrt
