#include "graph/passes/fuse_gate_up_swiglu.h"

#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "graph/passes/pass_test_util.h"

namespace ggrt {
namespace {

constexpr char kFfn[] = R"(graph t {
  input %h : f32[1,8]
  param %wg : bf16[12,8]
  param %wu : bf16[12,8]
  %gate = matmul(%h, %wg) : f32[1,12]
  %up = matmul(%h, %wu) : f32[1,12]
  %act = swiglu(%gate, %up) : f32[1,12]
  output %act
}
)";

TEST(FuseGateUpSwigluTest, Fuses) {
  FuseGateUpSwigluPass pass;
  auto r = RunPassOnText(pass, kFfn);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->text, R"(graph t {
  input %h : f32[1,8]
  param %wg : bf16[12,8]
  param %wu : bf16[12,8]
  %act = fused_gate_up_swiglu(%h, %wg, %wu) : f32[1,12]
  output %act
}
)");
}

TEST(FuseGateUpSwigluTest, DoesNotFuseWhenGateHasAnotherUser) {
  FuseGateUpSwigluPass pass;
  const std::string text = absl::StrReplaceAll(kFfn, {{"  output %act\n", "  output %act\n  output %gate\n"}});
  auto r = RunPassOnText(pass, text);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->changed);
  EXPECT_EQ(r->text, text);
}

}  // namespace
}  // namespace ggrt
