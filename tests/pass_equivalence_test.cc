// Every pass configuration must produce the same greedy tokens as the unfused graph: all passes, none,
// and each pass alone, on all three stories260K variants.
#include <fstream>
#include <sstream>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/reference.h"
#include "runtime/model.h"
#include "runtime/session.h"

namespace ggrt {
namespace {

class PassEquivalenceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(PassEquivalenceTest, EveryPassSelectionGivesTheReferenceTokens) {
  const std::vector<int32_t> ref = ReferenceIds(128);
  std::vector<PipelineSelection> selections = {{}, {.use_default = false}};
  for (const std::string& pass : DefaultPassNames()) selections.push_back({.passes = {pass}, .use_default = false});
  for (const PipelineSelection& sel : selections) {
    std::string label = sel.use_default ? "default" : sel.passes.empty() ? "none" : sel.passes[0];
    for (bool greedy_graph : {true, false}) {
      auto m = LoadModel({.path = "external/shared/models/" + GetParam(), .ctx_size = 160, .passes = sel,
                          .greedy = greedy_graph});
      ASSERT_TRUE(m.ok()) << m.status();
      std::vector<int32_t> got;
      GenerateStats stats;
      ASSERT_TRUE(Generate(*m->executor, *m->tokenizer, {m->tokenizer->bos_id()},
                           {.n_predict = 128, .sampler = {.temperature = 0.0f}},
                           [&](int32_t t) { got.push_back(t); }, &stats)
                      .ok());
      EXPECT_EQ(got, ref) << GetParam() << " with passes: " << label << (greedy_graph ? " (argmax in graph)" : "");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, PassEquivalenceTest,
                         ::testing::Values("stories260K.gguf", "stories260K-f16.gguf", "stories260K-qwen2.gguf"));

}  // namespace
}  // namespace ggrt
