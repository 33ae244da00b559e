#include "graph/passes/fuse_qkv.h"

#include "gtest/gtest.h"
#include "graph/passes/pass_test_util.h"

namespace ggrt {
namespace {

TEST(FuseQkvTest, FusesProjectionsOfOneActivation) {
  FuseQkvPass pass;
  auto r = RunPassOnText(pass, R"(graph t {
  input %x : f32[1,8]
  param %wq : f16[8,8]
  param %wk : f16[4,8]
  param %wv : f16[4,8]
  %q = matmul(%x, %wq) : f32[1,8]
  %k = matmul(%x, %wk) : f32[1,4]
  %v = matmul(%x, %wv) : f32[1,4]
  %s = add(%k, %v) : f32[1,4]
  output %q
  output %s
}
)");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->text, R"(graph t {
  input %x : f32[1,8]
  param %wq : f16[8,8]
  param %wk : f16[4,8]
  param %wv : f16[4,8]
  %q, %k, %v = multi_matmul(%x, %wq, %wk, %wv) : f32[1,8], f32[1,4], f32[1,4]
  %s = add(%k, %v) : f32[1,4]
  output %q
  output %s
}
)");
}

TEST(FuseQkvTest, DoesNotFuseAFloatWithAnotherDtypeOrALoneMatmul) {
  FuseQkvPass pass;
  const std::string text = R"(graph t {
  input %x : f32[1,32]
  input %y : f32[1,32]
  param %wq : f16[32,32]
  param %wk : q8_0[32,32]
  param %wo : f16[32,32]
  %q = matmul(%x, %wq) : f32[1,32]
  %k = matmul(%x, %wk) : f32[1,32]
  %o = matmul(%y, %wo) : f32[1,32]
  output %q
  output %k
  output %o
}
)";
  auto r = RunPassOnText(pass, text);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->changed);
  EXPECT_EQ(r->text, text);
}

TEST(FuseQkvTest, FusesBlockFormatsOfDifferentTypes) {
  // A Q4_K_M layer: q and k in Q4_K, v in Q6_K.
  FuseQkvPass pass;
  auto r = RunPassOnText(pass, R"(graph t {
  input %x : f32[1,256]
  param %wq : q4_k[256,256]
  param %wk : q4_k[64,256]
  param %wv : q6_k[64,256]
  %q = matmul(%x, %wq) : f32[1,256]
  %k = matmul(%x, %wk) : f32[1,64]
  %v = matmul(%x, %wv) : f32[1,64]
  output %q
  output %k
  output %v
}
)");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->text, R"(graph t {
  input %x : f32[1,256]
  param %wq : q4_k[256,256]
  param %wk : q4_k[64,256]
  param %wv : q6_k[64,256]
  %q, %k, %v = multi_matmul(%x, %wq, %wk, %wv) : f32[1,256], f32[1,64], f32[1,64]
  output %q
  output %k
  output %v
}
)");
}

}  // namespace
}  // namespace ggrt
