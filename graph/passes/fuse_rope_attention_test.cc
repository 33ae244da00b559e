#include "graph/passes/fuse_rope_attention.h"

#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "graph/passes/pass_test_util.h"

namespace ggrt {
namespace {

constexpr char kDecode[] = R"(graph t {
  input %pos : i32[1]
  input %q : f32[1,8]
  input %k : f32[1,4]
  input %v : f32[1,4]
  state %kc : f32[16,4]
  state %vc : f32[16,4]
  %q_rope, %kc_w, %vc_w = fused_bias_rope[theta=10000, dims=4, head_dim=4, neox=true](%q, %k, %v, %pos, %kc, %vc) : f32[1,8], f32[16,4], f32[16,4]
  %attn = attention[heads=2, kv_heads=1, head_dim=4, scale=0.5](%q_rope, %kc_w, %vc_w, %pos) : f32[1,8]
  output %attn
}
)";

TEST(FuseRopeAttentionTest, FusesTheDecodeStep) {
  FuseRopeAttentionPass pass;
  auto r = RunPassOnText(pass, kDecode);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->text, R"(graph t {
  input %pos : i32[1]
  input %q : f32[1,8]
  input %k : f32[1,4]
  input %v : f32[1,4]
  state %kc : f32[16,4]
  state %vc : f32[16,4]
  %attn, %kc_w, %vc_w = fused_rope_attention[theta=10000, dims=4, head_dim=4, neox=true, heads=2, kv_heads=1, scale=0.5](%q, %k, %v, %pos, %kc, %vc) : f32[1,8], f32[16,4], f32[16,4]
  output %attn
}
)");
}

TEST(FuseRopeAttentionTest, DoesNotFuseAPrefill) {
  FuseRopeAttentionPass pass;
  const std::string text = absl::StrReplaceAll(kDecode, {{"f32[1,8]", "f32[3,8]"}, {"f32[1,4]", "f32[3,4]"}});
  auto r = RunPassOnText(pass, text);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->changed);
  EXPECT_EQ(r->text, text);
}

TEST(FuseRopeAttentionTest, FusesABatchedDecodeStep) {
  // Three sequences, one token each: %pos has a (position, 1-page table) record per row.
  FuseRopeAttentionPass pass;
  const std::string text = absl::StrReplaceAll(
      kDecode, {{"i32[1]", "i32[3,2]"}, {"f32[1,8]", "f32[3,8]"}, {"f32[1,4]", "f32[3,4]"}, {"f32[16,4]", "f32[64,4]"}});
  auto r = RunPassOnText(pass, text);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->text, R"(graph t {
  input %pos : i32[3,2]
  input %q : f32[3,8]
  input %k : f32[3,4]
  input %v : f32[3,4]
  state %kc : f32[64,4]
  state %vc : f32[64,4]
  %attn, %kc_w, %vc_w = fused_rope_attention[theta=10000, dims=4, head_dim=4, neox=true, heads=2, kv_heads=1, scale=0.5](%q, %k, %v, %pos, %kc, %vc) : f32[3,8], f32[64,4], f32[64,4]
  output %attn
}
)");
}

TEST(FuseRopeAttentionTest, DoesNotFuseWhenTheRotatedQueryHasAnotherUser) {
  FuseRopeAttentionPass pass;
  const std::string text = absl::StrReplaceAll(kDecode, {{"  output %attn\n", "  output %attn\n  output %q_rope\n"}});
  auto r = RunPassOnText(pass, text);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->changed);
}

}  // namespace
}  // namespace ggrt
