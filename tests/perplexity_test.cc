// Perplexity and KL divergence on the CPU backend against llama.cpp's llama-perplexity figures
// (../shared/models/tiny-qwen2-256/reference-perplexity.txt: gpl-3.txt, -c 128 -b 128): the same PPL to
// within 0.02%, and for every quantized fixture a KL divergence from F16 of at most 1.1x llama.cpp's (we
// dequantize exactly and keep activations in f32; llama.cpp rounds activations to 8 bits).
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "base/status_macros.h"
#include "runtime/model.h"
#include "runtime/perplexity.h"
#include "tests/reference.h"

namespace ggrt {
namespace {

constexpr char kModels[] = "external/shared/models/";
constexpr char kFixtures[] = "external/shared/models/tiny-qwen2-256/";

struct Reference {
  double ppl = 0, kld = 0;
};

// "== name" sections: "Final estimate: PPL = X" and "Mean    KLD:   X".
std::map<std::string, Reference> ReadReference() {
  std::ifstream in(std::string(kFixtures) + "reference-perplexity.txt");
  std::map<std::string, Reference> out;
  std::string line, section;
  while (std::getline(in, line)) {
    absl::string_view l = line;
    if (absl::ConsumePrefix(&l, "== ")) {
      section = std::string(absl::StripSuffix(l, " (KL base)"));
    } else if (absl::ConsumePrefix(&l, "Final estimate: PPL = ")) {
      EXPECT_TRUE(absl::SimpleAtod(l.substr(0, l.find(' ')), &out[section].ppl)) << line;
    } else if (absl::ConsumePrefix(&l, "Mean    KLD:")) {
      l = absl::StripLeadingAsciiWhitespace(l);
      EXPECT_TRUE(absl::SimpleAtod(l.substr(0, l.find(' ')), &out[section].kld)) << line;
    }
  }
  return out;
}

// gpl-3.txt with -c 128 -b 128 on the CPU, compared against `base` when given, its log-probabilities saved
// to `save_path` when not empty.
absl::StatusOr<PerplexityResult> RunOnGpl3(const std::string& path, const LogProbFile* base,
                                           const std::string& save_path = "") {
  ASSIGN_OR_RETURN(LoadedModel m, LoadModel({.path = path, .backend = Backend::kCpu, .ctx_size = 128,
                                             .all_logits = true}));
  std::ifstream in("external/shared/text/gpl-3.txt");
  std::stringstream text;
  text << in.rdbuf();
  ASSIGN_OR_RETURN(const std::vector<int32_t> tokens, m.tokenizer->Encode(text.str(), {.add_bos = m.tokenizer->add_bos()}));
  PerplexityOptions o{.n_ctx = 128, .n_batch = 128, .bos_id = m.tokenizer->add_bos() ? m.tokenizer->bos_id() : -1};
  std::unique_ptr<LogProbWriter> writer;
  if (!save_path.empty()) {
    ASSIGN_OR_RETURN(writer, LogProbWriter::Create(save_path, o.n_ctx, m.config.n_vocab, tokens));
  }
  ASSIGN_OR_RETURN(PerplexityResult r, ComputePerplexity(*m.executor, tokens, o, base, writer.get(), nullptr));
  if (writer) RETURN_IF_ERROR(writer->Close());
  return r;
}

TEST(PerplexityTest, Stories260KMatchesLlamaCpp) {
  const Reference want = ReadReference()["stories260K"];
  ASSERT_GT(want.ppl, 0);
  auto r = RunOnGpl3(std::string(kModels) + "stories260K.gguf", nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->chunk_ppl.size(), 173u);
  EXPECT_NEAR(r->nll.Ppl() / want.ppl, 1.0, 2e-4) << r->nll.Ppl() << " vs llama.cpp " << want.ppl;
}

// The F16 fixture's PPL, and its log-probabilities as the KL base of every quantized fixture.
class KlDivergenceTest : public ::testing::TestWithParam<std::string> {
 protected:
  static const LogProbFile& Base() {
    static const LogProbFile* base = [] {
      const std::string path = WriteTestFile("tiny-qwen2-256-f16.logprobs", "");
      auto r = RunOnGpl3(std::string(kFixtures) + "tiny-qwen2-256-f16.gguf", nullptr, path);
      EXPECT_TRUE(r.ok()) << r.status();
      const Reference want = ReadReference()["tiny-qwen2-256-f16"];
      EXPECT_NEAR(r->nll.Ppl() / want.ppl, 1.0, 2e-4) << r->nll.Ppl() << " vs llama.cpp " << want.ppl;
      auto f = ReadLogProbFile(path);
      EXPECT_TRUE(f.ok()) << f.status();
      return new LogProbFile(std::move(*f));
    }();
    return *base;
  }
};

TEST_P(KlDivergenceTest, AtMostLlamaCppsDivergenceFromF16) {
  const std::string name = "tiny-qwen2-256-" + GetParam();
  const Reference want = ReadReference()[name];
  ASSERT_GT(want.kld, 0) << name;
  auto r = RunOnGpl3(std::string(kFixtures) + name + ".gguf", &Base());
  ASSERT_TRUE(r.ok()) << r.status();
  const double kld = r->kl.sum_kld / r->kl.count;
  EXPECT_LE(kld, 1.1 * want.kld) << name << ": mean KLD " << kld << ", llama.cpp " << want.kld;
  EXPECT_GT(kld, 0.2 * want.kld) << name << ": suspiciously close to F16 for its type";
  std::printf("%s: mean KLD %.6f (llama.cpp %.6f), PPL %.4f\n", name.c_str(), kld, want.kld, r->nll.Ppl());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, KlDivergenceTest,
                         ::testing::Values("Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_M", "Q4_K_M",
                                           "Q5_K_M", "Q6_K"));

}  // namespace
}  // namespace ggrt
