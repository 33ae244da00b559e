#include "graph/parser.h"

#include "gtest/gtest.h"
#include "graph/printer.h"

namespace ggrt {
namespace {

constexpr char kLayer[] = R"(graph decode {
  input %tokens : i32[1]
  input %pos : i32[1]
  param %token_embd.weight : f16[16,8]
  param %blk.0.attn_norm.weight : f32[8]
  param %blk.0.attn_q.weight : f16[8,8]
  param %blk.0.attn_k.weight : f16[4,8]
  param %blk.0.attn_v.weight : f16[4,8]
  param %blk.0.attn_q.bias : f32[8]
  state %blk.0.k_cache : f32[32,4]
  state %blk.0.v_cache : f32[32,4]
  %inp_embd = embedding(%tokens, %token_embd.weight) : f32[1,8]
  %blk.0.attn_norm = rms_norm[eps=9.99999997e-07](%inp_embd, %blk.0.attn_norm.weight) : f32[1,8]
  %blk.0.attn_q, %blk.0.attn_k, %blk.0.attn_v = multi_matmul(%blk.0.attn_norm, %blk.0.attn_q.weight, %blk.0.attn_k.weight, %blk.0.attn_v.weight) : f32[1,8], f32[1,4], f32[1,4]
  %blk.0.attn_q_bias = add(%blk.0.attn_q, %blk.0.attn_q.bias) : f32[1,8]
  %blk.0.attn_q_rope = rope[theta=1000000, dims=4, head_dim=4, neox=true](%blk.0.attn_q_bias, %pos) : f32[1,8]
  %blk.0.k_cache_write = kv_write(%blk.0.k_cache, %blk.0.attn_k, %pos) : f32[32,4]
  %blk.0.v_cache_write = kv_write(%blk.0.v_cache, %blk.0.attn_v, %pos) : f32[32,4]
  %blk.0.attn = attention[heads=2, kv_heads=1, head_dim=4, scale=0.5](%blk.0.attn_q_rope, %blk.0.k_cache_write, %blk.0.v_cache_write, %pos) : f32[1,8]
  %token = fused_output_argmax(%blk.0.attn, %token_embd.weight) : i32[1]
  output %token
}
)";

TEST(ParserTest, RoundTripsExactly) {
  auto g = ParseGraph(kLayer);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(PrintGraph(*g), kLayer);
  EXPECT_EQ(g->nodes().size(), 9u);
  EXPECT_EQ(g->states().size(), 2u);
}

TEST(ParserTest, ErrorsNameTheLine) {
  struct Case {
    std::string text;
    std::string error;
  };
  const Case cases[] = {
      {"graph g {\n  input %x : f32[1,4]\n  %y = frobnicate(%x) : f32[1,4]\n}", "line 3: unknown op 'frobnicate'"},
      {"graph g {\n  input %x : f32[1,4]\n  %y = add(%x, %z) : f32[1,4]\n}", "line 3: use of undefined value '%z'"},
      {"graph g {\n  input %x : f32[1,4]\n  %y = add(%x, %x) : f32[1,5]\n}", "declared f32[1,5] but add yields f32[1,4]"},
      {"graph g {\n  input %x : q7[1,4]\n}", "line 2: unknown tensor data type 'q7'"},
      {"graph g {\n  input %x : f32[1,4]\n  %y = rms_norm[eps=1, bogus=2](%x, %x) : f32[1,4]\n}", "unknown attribute 'bogus'"},
      {"graph g {\n  input %x : f32[1,4]\n", "missing closing '}'"},
      {"grph g {\n}", "expected 'graph NAME {'"},
  };
  for (const Case& c : cases) {
    auto g = ParseGraph(c.text);
    ASSERT_FALSE(g.ok()) << c.text;
    EXPECT_NE(g.status().message().find(c.error), std::string::npos) << g.status();
  }
}

}  // namespace
}  // namespace ggrt
