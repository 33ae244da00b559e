#include "graph/dot.h"

#include "gtest/gtest.h"
#include "graph/parser.h"

namespace ggrt {
namespace {

TEST(DotTest, StableIdsAndEdges) {
  auto g = ParseGraph(R"(graph t {
  input %x : f32[1,4]
  param %w : f32[4]
  %a = add(%x, %x) : f32[1,4]
  %b = rms_norm[eps=1](%a, %w) : f32[1,4]
  output %b
})");
  ASSERT_TRUE(g.ok()) << g.status();
  const std::string dot = PrintDot(*g);
  EXPECT_EQ(dot, PrintDot(*g));
  EXPECT_NE(dot.find("n0 [shape=box, label=\"a\\nadd\"]"), std::string::npos) << dot;
  EXPECT_NE(dot.find("v0 -> n0 [label=\"f32[1,4]\"]"), std::string::npos) << dot;
  EXPECT_NE(dot.find("n0 -> n1"), std::string::npos) << dot;
  EXPECT_EQ(dot.find("%w"), std::string::npos) << "weights are left out";
}

}  // namespace
}  // namespace ggrt
