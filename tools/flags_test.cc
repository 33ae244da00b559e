#include "tools/flags.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ggrt {
namespace {

// Parses `args` (without the program name) against `specs`.
absl::Status Parse(Flags& flags, std::vector<std::string> args, const std::vector<Flags::Spec>& specs,
                   std::vector<std::string>* positional = nullptr) {
  args.insert(args.begin(), "tool");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return flags.Parse(static_cast<int>(argv.size()), argv.data(), specs, positional);
}

TEST(FlagsTest, ValuesAliasesAndBooleans) {
  Flags f;
  ASSERT_TRUE(Parse(f, {"-m", "x.gguf", "--n-predict=5", "--chat"},
                    {{{"-m", "--model"}}, {{"-n", "--n-predict"}}, {{"--chat"}, false}})
                  .ok());
  EXPECT_EQ(f.Get("--model"), "x.gguf");
  int n = 0;
  ASSERT_TRUE(f.GetInt("--n-predict", &n, 0, 10).ok());
  EXPECT_EQ(n, 5);
  EXPECT_TRUE(f.Has("--chat"));
  EXPECT_FALSE(f.GetInt("--n-predict", &n, 6, 10).ok());  // Out of range, named.
  Flags bad;
  const absl::Status unknown = Parse(bad, {"--bogus"}, {{{"-m"}}});
  EXPECT_NE(unknown.message().find("unknown flag '--bogus'"), std::string::npos) << unknown;
  const absl::Status missing = Parse(bad, {"-m"}, {{{"-m"}}});
  EXPECT_NE(missing.message().find("-m needs a value"), std::string::npos) << missing;
}

TEST(FlagsTest, IntegerLists) {
  Flags f;
  ASSERT_TRUE(Parse(f, {"-p", "512,2048,8192", "-d", "7"}, {{{"-p"}}, {{"-d"}}}).ok());
  std::vector<int> p = {1}, d, untouched = {3};
  ASSERT_TRUE(f.GetIntList("-p", &p, 0, 100000).ok());
  EXPECT_EQ(p, (std::vector<int>{512, 2048, 8192}));
  ASSERT_TRUE(f.GetIntList("-d", &d, 0, 10).ok());
  EXPECT_EQ(d, std::vector<int>{7});
  ASSERT_TRUE(f.GetIntList("-x", &untouched, 0, 10).ok());
  EXPECT_EQ(untouched, std::vector<int>{3});
  for (const std::string bad : {"1,,2", "1,x", "", "5,99999999", "-1"}) {
    Flags g;
    ASSERT_TRUE(Parse(g, {"-p", bad}, {{{"-p"}}}).ok());
    std::vector<int> out;
    const absl::Status s = g.GetIntList("-p", &out, 0, 100000);
    EXPECT_NE(s.message().find("is not a comma-separated list of integers from 0 to 100000"), std::string::npos)
        << bad << ": " << s;
  }
}

TEST(FlagsTest, CacheTypes) {
  auto cache_type = [](std::vector<std::string> args) {
    Flags f;
    EXPECT_TRUE(Parse(f, args, kCacheTypeFlags).ok());
    return CacheTypeFromFlags(f);
  };
  EXPECT_EQ(*cache_type({}), DType::kF16);
  EXPECT_EQ(*cache_type({"--cache-type", "f32"}), DType::kF32);
  EXPECT_EQ(*cache_type({"-ctk", "f32", "-ctv", "f32"}), DType::kF32);
  EXPECT_NE(cache_type({"-ctk", "q8_0"}).status().message().find("--cache-type-k: 'q8_0' is not one of f16, f32"),
            std::string::npos);
  EXPECT_NE(cache_type({"--cache-type", "f16", "-ctv", "f32"}).status().message().find("differs from"),
            std::string::npos);
}

}  // namespace
}  // namespace ggrt
