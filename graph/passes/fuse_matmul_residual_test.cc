#include "graph/passes/fuse_matmul_residual.h"

#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "graph/passes/pass_test_util.h"

namespace ggrt {
namespace {

constexpr char kResidual[] = R"(graph t {
  input %x : f32[1,8]
  input %a : f32[1,16]
  param %w : f16[8,16]
  %proj = matmul(%a, %w) : f32[1,8]
  %sum = add(%x, %proj) : f32[1,8]
  output %sum
}
)";

TEST(FuseMatmulResidualTest, Fuses) {
  FuseMatmulResidualPass pass;
  auto r = RunPassOnText(pass, kResidual);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->text, R"(graph t {
  input %x : f32[1,8]
  input %a : f32[1,16]
  param %w : f16[8,16]
  %sum = fused_matmul_residual(%a, %w, %x) : f32[1,8]
  output %sum
}
)");
}

TEST(FuseMatmulResidualTest, DoesNotFuseWhenTheProductHasAnotherUser) {
  FuseMatmulResidualPass pass;
  const std::string text = absl::StrReplaceAll(kResidual, {{"  output %sum\n", "  output %sum\n  output %proj\n"}});
  auto r = RunPassOnText(pass, text);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->changed);
  EXPECT_EQ(r->text, text);
}

TEST(FuseMatmulResidualTest, DoesNotFuseABiasAdd) {
  FuseMatmulResidualPass pass;
  const std::string text = R"(graph t {
  input %a : f32[1,16]
  param %w : f16[8,16]
  param %b : f32[8]
  %proj = matmul(%a, %w) : f32[1,8]
  %biased = add(%proj, %b) : f32[1,8]
  output %biased
}
)";
  auto r = RunPassOnText(pass, text);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->changed);
}

}  // namespace
}  // namespace ggrt
