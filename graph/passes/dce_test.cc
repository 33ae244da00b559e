#include "graph/passes/dce.h"

#include "gtest/gtest.h"
#include "graph/passes/pass_test_util.h"

namespace ggrt {
namespace {

TEST(DceTest, RemovesDeadChainsButKeepsStateWrites) {
  DcePass pass;
  auto r = RunPassOnText(pass, R"(graph t {
  input %x : f32[1,4]
  input %pos : i32[1]
  state %kc : f32[8,4]
  %dead1 = add(%x, %x) : f32[1,4]
  %dead2 = add(%dead1, %x) : f32[1,4]
  %write = kv_write(%kc, %x, %pos) : f32[8,4]
  %live = add(%x, %x) : f32[1,4]
  output %live
}
)");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->text, R"(graph t {
  input %x : f32[1,4]
  input %pos : i32[1]
  state %kc : f32[8,4]
  %write = kv_write(%kc, %x, %pos) : f32[8,4]
  %live = add(%x, %x) : f32[1,4]
  output %live
}
)");
}

TEST(DceTest, NothingDeadIsNoChange) {
  DcePass pass;
  auto r = RunPassOnText(pass, R"(graph t {
  input %x : f32[1,4]
  %a = add(%x, %x) : f32[1,4]
  output %a
}
)");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->changed);
}

}  // namespace
}  // namespace ggrt
