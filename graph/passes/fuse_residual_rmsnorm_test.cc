#include "graph/passes/fuse_residual_rmsnorm.h"

#include "gtest/gtest.h"
#include "graph/passes/pass_test_util.h"

namespace ggrt {
namespace {

TEST(FuseResidualRmsNormTest, FusesAcrossALayerBoundary) {
  FuseResidualRmsNormPass pass;
  auto r = RunPassOnText(pass, R"(graph t {
  input %x : f32[1,8]
  input %ffn_out : f32[1,8]
  param %w : f32[8]
  %blk.0.ffn_residual = add(%x, %ffn_out) : f32[1,8]
  %blk.1.attn_norm = rms_norm[eps=0.5](%blk.0.ffn_residual, %w) : f32[1,8]
  %blk.1.attn_residual = add(%blk.0.ffn_residual, %blk.1.attn_norm) : f32[1,8]
  output %blk.1.attn_residual
}
)");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->text, R"(graph t {
  input %x : f32[1,8]
  input %ffn_out : f32[1,8]
  param %w : f32[8]
  %blk.0.ffn_residual, %blk.1.attn_norm = fused_residual_rms_norm[eps=0.5](%x, %ffn_out, %w) : f32[1,8], f32[1,8]
  %blk.1.attn_residual = add(%blk.0.ffn_residual, %blk.1.attn_norm) : f32[1,8]
  output %blk.1.attn_residual
}
)");
}

TEST(FuseResidualRmsNormTest, DoesNotFuseABiasAdd) {
  FuseResidualRmsNormPass pass;
  const std::string text = R"(graph t {
  input %x : f32[1,8]
  param %b : f32[8]
  param %w : f32[8]
  %y = add(%x, %b) : f32[1,8]
  %n = rms_norm[eps=0.5](%y, %w) : f32[1,8]
  output %n
}
)";
  auto r = RunPassOnText(pass, text);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->changed);
  EXPECT_EQ(r->text, text);
}

}  // namespace
}  // namespace ggrt
