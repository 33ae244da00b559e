#include "graph/passes/fuse_bias_rope.h"

#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "graph/passes/pass_test_util.h"

namespace ggrt {
namespace {

constexpr char kDecls[] = R"(graph t {
  input %pos : i32[1]
  input %q : f32[1,8]
  input %k : f32[1,4]
  input %v : f32[1,4]
  param %bq : f32[8]
  param %bk : f32[4]
  param %bv : f32[4]
  state %kc : f32[16,4]
  state %vc : f32[16,4]
)";

constexpr char kBiased[] = R"(  %q_bias = add(%q, %bq) : f32[1,8]
  %k_bias = add(%k, %bk) : f32[1,4]
  %v_bias = add(%v, %bv) : f32[1,4]
  %q_rope = rope[theta=10000, dims=4, head_dim=4, neox=true](%q_bias, %pos) : f32[1,8]
  %k_rope = rope[theta=10000, dims=4, head_dim=4, neox=true](%k_bias, %pos) : f32[1,4]
  %kc_w = kv_write(%kc, %k_rope, %pos) : f32[16,4]
  %vc_w = kv_write(%vc, %v_bias, %pos) : f32[16,4]
  %attn = attention[heads=2, kv_heads=1, head_dim=4, scale=0.5](%q_rope, %kc_w, %vc_w, %pos) : f32[1,8]
  output %attn
}
)";

TEST(FuseBiasRopeTest, FusesBiasesRopesAndCacheWrites) {
  FuseBiasRopePass pass;
  auto r = RunPassOnText(pass, std::string(kDecls) + kBiased);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->text, std::string(kDecls) + R"(  %q_rope, %kc_w, %vc_w = fused_bias_rope[theta=10000, dims=4, head_dim=4, neox=true](%q, %k, %v, %pos, %kc, %vc, %bq, %bk, %bv) : f32[1,8], f32[16,4], f32[16,4]
  %attn = attention[heads=2, kv_heads=1, head_dim=4, scale=0.5](%q_rope, %kc_w, %vc_w, %pos) : f32[1,8]
  output %attn
}
)");
}

TEST(FuseBiasRopeTest, FusesWithoutBiases) {
  FuseBiasRopePass pass;
  const std::string body = R"(  %q_rope = rope[theta=10000, dims=4, head_dim=4, neox=false](%q, %pos) : f32[1,8]
  %k_rope = rope[theta=10000, dims=4, head_dim=4, neox=false](%k, %pos) : f32[1,4]
  %kc_w = kv_write(%kc, %k_rope, %pos) : f32[16,4]
  %vc_w = kv_write(%vc, %v, %pos) : f32[16,4]
  %attn = attention[heads=2, kv_heads=1, head_dim=4, scale=0.5](%q_rope, %kc_w, %vc_w, %pos) : f32[1,8]
  output %attn
}
)";
  auto r = RunPassOnText(pass, std::string(kDecls) + body);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(r->text.find("%q_rope, %kc_w, %vc_w = fused_bias_rope[theta=10000, dims=4, head_dim=4, "
                         "neox=false](%q, %k, %v, %pos, %kc, %vc) :"),
            std::string::npos)
      << r->text;
}

TEST(FuseBiasRopeTest, DoesNotFuseWhenABiasedValueHasAnotherUser) {
  FuseBiasRopePass pass;
  const std::string text =
      std::string(kDecls) + absl::StrReplaceAll(kBiased, {{"  output %attn\n", "  output %attn\n  output %q_bias\n"}});
  auto r = RunPassOnText(pass, text);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->changed);
  EXPECT_EQ(r->text, text);
}

TEST(FuseBiasRopeTest, DoesNotFuseDifferentRopes) {
  FuseBiasRopePass pass;
  const std::string text = std::string(kDecls) +
      absl::StrReplaceAll(kBiased, {{"neox=true](%k_bias", "neox=false](%k_bias"}});
  auto r = RunPassOnText(pass, text);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->changed);
}

}  // namespace
}  // namespace ggrt
