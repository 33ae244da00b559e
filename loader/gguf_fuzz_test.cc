#include <cstdint>
#include <random>

#include "gtest/gtest.h"
#include "loader/gguf_corpus.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace ggrt {
namespace {

// Deterministic mutations of the seeds (bit flips, truncations): a fixed-budget stand-in for the fuzzer.
TEST(GgufFuzzTest, MutatedSeedsNeverCrash) {
  const std::vector<std::string> seeds = FuzzSeeds();
  std::mt19937 rng(99);
  int runs = 0;
  for (const std::string& seed : seeds) {
    for (int i = 0; i < 300; ++i) {
      std::string s = seed;
      if (!s.empty()) {
        const int flips = 1 + rng() % 4;
        for (int k = 0; k < flips; ++k) s[rng() % s.size()] ^= static_cast<char>(1 << (rng() % 8));
        if (rng() % 3 == 0) s.resize(rng() % s.size());
      }
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
      ++runs;
    }
  }
  EXPECT_GT(runs, 5000);
}

}  // namespace
}  // namespace ggrt
