#include "graph/memory_plan.h"

#include "gtest/gtest.h"
#include "graph/lower_model.h"
#include "graph/parser.h"
#include "graph/passes/registry.h"

namespace ggrt {
namespace {

TEST(MemoryPlanTest, ReusesDeadBuffersAndKeepsLiveOnesApart) {
  auto g = ParseGraph(R"(graph t {
  input %x : f32[1,64]
  input %pos : i32[1]
  state %kc : f32[8,64]
  %a = add(%x, %x) : f32[1,64]
  %b = add(%a, %a) : f32[1,64]
  %c = add(%b, %b) : f32[1,64]
  %w = kv_write(%kc, %c, %pos) : f32[8,64]
  %d = add(%c, %c) : f32[1,64]
  output %d
})");
  ASSERT_TRUE(g.ok()) << g.status();
  auto plan = PlanMemory(*g, 256);
  ASSERT_TRUE(plan.ok());
  const auto& off = plan->offsets;
  EXPECT_EQ(off.count(g->FindValue("w")), 0u) << "in-place result takes the state's buffer";
  EXPECT_EQ(BufferOwner(g->FindValue("w")), g->FindValue("kc"));
  // a dies when b is made, b when c is made: two buffers suffice for the chain.
  EXPECT_EQ(off.at(g->FindValue("a")), off.at(g->FindValue("c")));
  EXPECT_NE(off.at(g->FindValue("a")), off.at(g->FindValue("b")));
  EXPECT_EQ(plan->arena_bytes, 2 * 256);
  EXPECT_EQ(plan->unshared_bytes, 4 * 256);
}

// On a real fused graph: no two values alive at once may overlap in the arena.
TEST(MemoryPlanTest, NoOverlapOfLiveValuesOnAModel) {
  auto f = GgufFile::Open("external/shared/models/stories260K-qwen2.gguf");
  ASSERT_TRUE(f.ok());
  auto c = ModelConfigFromGguf(**f);
  auto g = LowerModel(*c, **f, {.seq_len = 9, .ctx_size = 32});
  ASSERT_TRUE(g.ok());
  ASSERT_TRUE(BuildPipeline({})->Run(*g).ok());
  auto plan = PlanMemory(*g, 64);
  ASSERT_TRUE(plan.ok());
  EXPECT_LT(plan->arena_bytes, plan->unshared_bytes / 4);
  std::vector<std::pair<const Value*, std::pair<int, int>>> live;
  const auto& nodes = g->nodes();
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (const Value* r : nodes[i]->results) {
      if (!plan->offsets.contains(r)) continue;
      int last = static_cast<int>(i);
      for (size_t j = 0; j < nodes.size(); ++j) {
        for (const Value* o : nodes[j]->operands) {
          if (o == r) last = std::max(last, static_cast<int>(j));
        }
      }
      live.push_back({r, {static_cast<int>(i), last}});
    }
  }
  for (size_t a = 0; a < live.size(); ++a) {
    for (size_t b = a + 1; b < live.size(); ++b) {
      const auto [va, la] = live[a];
      const auto [vb, lb] = live[b];
      if (la.first > lb.second || lb.first > la.second) continue;
      const int64_t oa = plan->offsets.at(va), ob = plan->offsets.at(vb);
      EXPECT_TRUE(oa + va->type.bytes() <= ob || ob + vb->type.bytes() <= oa)
          << va->name << " and " << vb->name << " overlap while both alive";
    }
  }
}

}  // namespace
}  // namespace ggrt
