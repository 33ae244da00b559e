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

TEST(FuseQkvTest, DoesNotFuseMixedDtypesOrALoneMatmul) {
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

}  // namespace
}  // namespace ggrt
