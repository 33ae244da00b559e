#include "tools/kernel_trace.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "ops/cuda/rms_norm.h"
#include "ops/cuda/test_util.h"

namespace ggrt {
namespace {

// Two steps of three kernels a step, `a` launched twice a step; times in ns.
std::vector<KernelSpan> TwoSteps() {
  return {{"a", 0, 2000},     {"b", 3000, 4000},  {"a", 3500, 6000},
          {"a", 10000, 12000}, {"b", 12500, 13500}, {"a", 14500, 16500}};
}

TEST(StepTableTest, SumsByNameAndByPosition) {
  const absl::StatusOr<std::string> table = StepTable(TwoSteps(), 2);
  ASSERT_TRUE(table.ok()) << table.status();
  // From 0 to 16500 ns over 2 steps; kernels 2 + 1 + 2.25 us a step; gaps: b 0.75 (1.0 and 0.5), the second
  // a 0.25 (-0.5 and 1.0), the first a 4.0 (only step 1's, after step 0's last end at 6000).
  EXPECT_NE(table->find("2 steps of 3 kernels: 8.2 us a step"), std::string::npos) << *table;
  EXPECT_NE(table->find("kernels 5.2 us, gaps 5.0 us"), std::string::npos) << *table;
  EXPECT_NE(table->find("| a | 4.25 | 2 | 4.25 | 8.50 |"), std::string::npos) << *table;
  EXPECT_NE(table->find("| b | 1.00 | 1 | 0.75 | 1.75 |"), std::string::npos) << *table;
  EXPECT_NE(table->find("| 0 | a | 2.00 | 4.00 | 6.00 |"), std::string::npos) << *table;
  EXPECT_NE(table->find("| 2 | a | 2.25 | 0.25 | 2.50 |"), std::string::npos) << *table;
}

TEST(StepTableTest, RejectsSpansThatAreNotRepeatedSteps) {
  std::vector<KernelSpan> spans = TwoSteps();
  EXPECT_EQ(StepTable(spans, 4).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(StepTable(spans, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(StepTable({}, 1).status().code(), absl::StatusCode::kInvalidArgument);
  spans[4].name = "c";
  const absl::Status s = StepTable(spans, 2).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("step 1 launches c as kernel 1"), std::string::npos) << s;
}

TEST(StepTableTest, SaysWhereABlockFitsBesideThePreviousKernel) {
  // Qwen2.5-0.5B's Q8_0 ffn_down (448 blocks at 52 registers: 14K a block) then QKV (72 at 64: 16K) on 132
  // SMs: 52 SMs hold four ffn_down blocks (72K with a QKV block), 80 hold three (58K). QKV's blocks leave
  // every SM room for an ffn_down block.
  std::vector<KernelSpan> spans;
  for (int step = 0; step < 2; ++step) {
    spans.push_back({"down", 10000u * step, 10000u * step + 3000, 0, 448, 256, 52, 32});
    spans.push_back({"qkv", 10000u * step + 2000, 10000u * step + 5000, 0, 72, 256, 64, 22528});
  }
  const absl::StatusOr<std::string> table = StepTable(spans, 2, 132);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_NE(table->find("| 1 | qkv | 3.00 | -1.00 | 2.00 | 72 x 256 | 64 | 22.0 | 80 of 132 (3-4 x 14.0K + 16.0K) |"),
            std::string::npos)
      << *table;
  EXPECT_NE(table->find("| 448 x 256 | 52 | 0.0 | 132 of 132 (0-1 x 16.0K + 14.0K) |"), std::string::npos) << *table;
  // Without the device's SM count, or shapes, the rows keep their five columns.
  EXPECT_NE(StepTable(spans, 2)->find("| 1 | qkv | 3.00 | -1.00 | 2.00 |\n"), std::string::npos);
  EXPECT_EQ(BlockRegisters(256, 52), 14336);
  EXPECT_EQ(BlockRegisters(256, 70), 18432);  // 70 registers are allocated as 72.
}

TEST(MostRepeatedLaunchTest, KeepsTheLaunchesOfTheCommonestSequence) {
  // Three launches of (a, b, a), a one-kernel launch after the first and one of (a, b) at the end.
  std::vector<KernelSpan> spans;
  uint64_t t = 0;
  auto add = [&](const char* name, uint32_t launch) {
    spans.push_back({name, t, t + 10, launch});
    t += 20;
  };
  for (int step = 0; step < 3; ++step) {
    add("a", 10 * step);
    add("b", 10 * step);
    add("a", 10 * step);
    if (step == 0) add("c", 5);
  }
  add("a", 99);
  add("b", 99);
  const absl::StatusOr<RepeatedLaunches> steps = MostRepeatedLaunch(spans);
  ASSERT_TRUE(steps.ok()) << steps.status();
  EXPECT_EQ(steps->steps, 3);
  EXPECT_EQ(steps->spans.size(), 9u);
  EXPECT_EQ(steps->other_launches, 2);
  EXPECT_EQ(steps->other_kernels, 3);
  EXPECT_TRUE(StepTable(steps->spans, steps->steps).ok());
  // Launches of one kernel each (an eager run) are no graph steps.
  EXPECT_EQ(MostRepeatedLaunch({{"a", 0, 1, 1}, {"a", 2, 3, 2}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(KernelTraceTest, RecordsTheKernelsOfAGraph) {
  SKIP_WITHOUT_GPU();
  absl::StatusOr<std::unique_ptr<KernelTrace>> trace = KernelTrace::Start();
  if (!trace.ok()) GTEST_SKIP() << trace.status();
  constexpr int kDim = 256;
  cuda::DeviceBuffer x(std::vector<float>(kDim, 1.0f)), w(std::vector<float>(kDim, 2.0f)), y(kDim * sizeof(float));
  const cuda::RmsNormParams p{x.as<float>(), nullptr, nullptr, w.get(), cuda::WeightType::kF32, 1, kDim, 1e-6f,
                              y.as<float>()};
  cudaStream_t stream;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  cudaGraph_t graph;
  ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), cudaSuccess);
  ASSERT_EQ(cuda::LaunchRmsNorm(p, stream), cudaSuccess);
  ASSERT_EQ(cuda::LaunchRmsNorm(p, stream), cudaSuccess);
  ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
  cudaGraphExec_t exec;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  for (int step = 0; step < 3; ++step) ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  const absl::StatusOr<std::vector<KernelSpan>> spans = (*trace)->Stop();
  ASSERT_TRUE(spans.ok()) << spans.status();
  ASSERT_EQ(spans->size(), 6u);
  for (size_t i = 0; i < spans->size(); ++i) {
    EXPECT_NE((*spans)[i].name.find("RmsNorm"), std::string::npos) << (*spans)[i].name;
    EXPECT_LT((*spans)[i].start_ns, (*spans)[i].end_ns);
    if (i > 0) EXPECT_LE((*spans)[i - 1].start_ns, (*spans)[i].start_ns);
  }
  EXPECT_TRUE(StepTable(*spans, 3).ok());
  const absl::StatusOr<RepeatedLaunches> steps = MostRepeatedLaunch(*spans);
  ASSERT_TRUE(steps.ok()) << steps.status();
  EXPECT_EQ(steps->steps, 3);  // Each graph launch is one correlation id.
  EXPECT_EQ(steps->other_launches, 0);
  EXPECT_NEAR(y.Download<float>()[0], 2.0f, 1e-5f);  // 2 / sqrt(1 + eps).
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
}

}  // namespace
}  // namespace ggrt
