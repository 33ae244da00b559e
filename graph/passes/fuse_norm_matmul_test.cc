#include "graph/passes/fuse_norm_matmul.h"

#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "graph/passes/pass_test_util.h"

namespace ggrt {
namespace {

constexpr char kLayer[] = R"(graph t {
  input %x : f32[1,8]
  param %g : f32[8]
  param %wq : f16[8,8]
  param %wk : f16[4,8]
  param %wg : f16[12,8]
  param %wu : f16[12,8]
  %h = rms_norm[eps=0.5](%x, %g) : f32[1,8]
  %q, %k = multi_matmul(%h, %wq, %wk) : f32[1,8], f32[1,4]
  %act = fused_gate_up_swiglu(%h, %wg, %wu) : f32[1,12]
  output %q
  output %k
  output %act
}
)";

TEST(FuseNormMatmulTest, FoldsTheNormIntoEveryProjection) {
  FuseNormMatmulPass pass;
  auto r = RunPassOnText(pass, kLayer);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->text, R"(graph t {
  input %x : f32[1,8]
  param %g : f32[8]
  param %wq : f16[8,8]
  param %wk : f16[4,8]
  param %wg : f16[12,8]
  param %wu : f16[12,8]
  %q, %k = fused_norm_matmul[eps=0.5](%x, %g, %wq, %wk) : f32[1,8], f32[1,4]
  %act = fused_norm_gate_up_swiglu[eps=0.5](%x, %g, %wg, %wu) : f32[1,12]
  output %q
  output %k
  output %act
}
)");
}

TEST(FuseNormMatmulTest, FoldsIntoAPlainMatmulOfAnotherWeightType) {
  // What fuse-qkv leaves when v's type differs from q's and k's: each product computes the norm itself.
  FuseNormMatmulPass pass;
  auto r = RunPassOnText(pass, R"(graph t {
  input %x : f32[1,32]
  param %g : f32[32]
  param %wq : q5_0[32,32]
  param %wk : q5_0[8,32]
  param %wv : q8_0[8,32]
  %h = rms_norm[eps=0.5](%x, %g) : f32[1,32]
  %v = matmul(%h, %wv) : f32[1,8]
  %q, %k = multi_matmul(%h, %wq, %wk) : f32[1,32], f32[1,8]
  output %q
  output %k
  output %v
}
)");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->text, R"(graph t {
  input %x : f32[1,32]
  param %g : f32[32]
  param %wq : q5_0[32,32]
  param %wk : q5_0[8,32]
  param %wv : q8_0[8,32]
  %v = fused_norm_matmul[eps=0.5](%x, %g, %wv) : f32[1,8]
  %q, %k = fused_norm_matmul[eps=0.5](%x, %g, %wq, %wk) : f32[1,32], f32[1,8]
  output %q
  output %k
  output %v
}
)");
}

TEST(FuseNormMatmulTest, DoesNotFuseWhenTheNormHasAnotherKindOfUser) {
  FuseNormMatmulPass pass;
  const std::string text = absl::StrReplaceAll(kLayer, {{"  output %q\n", "  %h2 = add(%h, %h) : f32[1,8]\n  output %h2\n  output %q\n"}});
  auto r = RunPassOnText(pass, text);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->changed);
  EXPECT_EQ(r->text, text);
}

TEST(FuseNormMatmulTest, LeavesTheVocabularyProjectionAlone) {
  FuseNormMatmulPass pass;
  const std::string text = R"(graph t {
  input %x : f32[1,8]
  param %g : f32[8]
  param %w : f16[512,8]
  %h = rms_norm[eps=0.5](%x, %g) : f32[1,8]
  %logits = matmul(%h, %w) : f32[1,512]
  output %logits
}
)";
  auto r = RunPassOnText(pass, text);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->changed);
}

}  // namespace
}  // namespace ggrt
