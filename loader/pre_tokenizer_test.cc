#include "loader/pre_tokenizer.h"

#include <string>

#include "gtest/gtest.h"

namespace ggrt {
namespace {

using V = std::vector<std::string>;

V Split(const PreTokenizer& p, const std::string& s) {
  V out;
  for (absl::string_view w : p.Split(s)) out.emplace_back(w);
  return out;
}

V Split(const std::string& name, const std::string& s) {
  auto p = PreTokenizer::FromName(name);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? Split(*p, s) : V{};
}

TEST(PreTokenizerTest, Qwen2SplitsDigitsOneByOne) {
  EXPECT_EQ(Split("qwen2", "abc 1234"), (V{"abc", " ", "1", "2", "3", "4"}));
  EXPECT_EQ(Split("llama3", "abc 1234"), (V{"abc", " ", "123", "4"}));
  EXPECT_EQ(Split("gpt-2", "abc 1234"), (V{"abc", " 1234"}));
}

TEST(PreTokenizerTest, ContractionsAndPunctuation) {
  EXPECT_EQ(Split("qwen2", "I'VE been, 'told"), (V{"I", "'VE", " been", ",", " '", "told"}));
  // gpt-2's contractions are case-sensitive.
  EXPECT_EQ(Split("gpt-2", "I'VE it's"), (V{"I", "'", "VE", " it", "'s"}));
}

TEST(PreTokenizerTest, WhitespaceRules) {
  // \s+(?!\S) leaves the last space to the next word.
  EXPECT_EQ(Split("qwen2", "a   b"), (V{"a", "  ", " b"}));
  // \s*[\r\n]+ takes whitespace through the last newline.
  EXPECT_EQ(Split("qwen2", "a \n\n b"), (V{"a", " \n\n", " b"}));
  EXPECT_EQ(Split("qwen2", "x  "), (V{"x", "  "}));
  EXPECT_EQ(Split("qwen2", "!!\n\nx"), (V{"!!\n\n", "x"}));
}

// starcoder: \p{N} first, then gpt-2 within each remaining piece: a space before a number stays apart.
TEST(PreTokenizerTest, StarcoderSplitsDigitsFirst) {
  EXPECT_EQ(Split("starcoder", "abc 123 x"), (V{"abc", " ", "1", "2", "3", " x"}));
  EXPECT_EQ(Split("starcoder", "v2.0's"), (V{"v", "2", ".", "0", "'s"}));
  EXPECT_EQ(Split("starcoder", "a   b"), (V{"a", "  ", " b"}));
  EXPECT_EQ(Split("starcoder", ""), V{});
}

// The regex-driven types, each on a case that tells it apart (worked through the regexes by hand).
TEST(PreTokenizerTest, DeepseekCoder) {
  EXPECT_EQ(Split("deepseek-coder", "Hello world!\n12 \xe4\xb8\xad\xe6\x96\x87"),
            (V{"Hello", " world", "!", "\n", "1", "2", " ", "\xe4\xb8\xad\xe6\x96\x87"}));
}

TEST(PreTokenizerTest, DeepseekLlm) {
  EXPECT_EQ(Split("deepseek-llm", "Hi, \xe4\xb8\x96\xe7\x95\x8c 42!\n"),
            (V{"Hi", ",", " ", "\xe4\xb8\x96\xe7\x95\x8c", " ", "42", "!", "\n"}));
}

TEST(PreTokenizerTest, DeepseekV3) {
  EXPECT_EQ(Split("deepseek-v3", "abc1234,x"), (V{"abc", "123", "4", ",x"}));
}

TEST(PreTokenizerTest, Falcon) {
  EXPECT_EQ(Split("falcon", "x = a+b; 12345"), (V{"x", " ", "=", " a", "+", "b", ";", " ", "123", "45"}));
}

TEST(PreTokenizerTest, BloomAndViking) {
  EXPECT_EQ(Split("bloom", "Hello, world! How?"), (V{"Hello", ",", " world", "!", " How", "?"}));
  EXPECT_EQ(Split("poro-chat", "(a)"), (V{"(", "a", ")"}));
  EXPECT_EQ(Split("viking", "abc 123"), (V{"abc", " ", "1", "2", "3"}));
}

TEST(PreTokenizerTest, TekkenAndGpt4oSplitCamelCase) {
  EXPECT_EQ(Split("tekken", "HelloWorld 12"), (V{"Hello", "World", " ", "1", "2"}));
  EXPECT_EQ(Split("gpt-4o", "HelloWorld's test"), (V{"Hello", "World's", " test"}));
  EXPECT_EQ(Split("gpt-4o", "ABCdef  123456"), (V{"ABCdef", " ", " ", "123", "456"}));
}

TEST(PreTokenizerTest, Chameleon) {
  EXPECT_EQ(Split("chameleon", "a  b\t1!"), (V{"a", "  ", "b", "\t", "1", "!"}));
  // Later regexes split what earlier ones matched (llama.cpp relies on special-token parsing for sentinels).
  EXPECT_EQ(Split("chameleon", "x<sentinel:12>IMGIMGABZ"),
            (V{"x", "<", "sentinel", ":", "1", "2", ">", "IMGIMGABZ"}));
}

TEST(PreTokenizerTest, SuperbpeGroupsDigitsInThreesFromTheRight) {
  EXPECT_EQ(Split("superbpe", "x1234567y"), (V{"x", "1", "234", "567", "y"}));
  EXPECT_EQ(Split("superbpe", "123 12345"), (V{"123", " ", "12", "345"}));
  // Numbers that are not ASCII digits are \p{N} (one piece) but not \d (no cuts).
  EXPECT_EQ(Split("superbpe", "\xd9\xa1\xd9\xa2\xd9\xa3\xd9\xa4"), (V{"\xd9\xa1\xd9\xa2\xd9\xa3\xd9\xa4"}));
  // A million digits in linear time (the regex form rescans the run at every position).
  const V groups = Split("superbpe", std::string(1000000, '7'));
  EXPECT_EQ(groups.size(), 333334u);
  EXPECT_EQ(groups.front(), "7");
  EXPECT_EQ(groups.back(), "777");
}

TEST(PreTokenizerTest, BailingmoeAndSeedCoder) {
  EXPECT_EQ(Split("bailingmoe", "I'd 5"), (V{"I", "'d", " ", "5"}));
  // seed-coder's punctuation run takes no newline after it (qwen2's does).
  EXPECT_EQ(Split("seed-coder", "a!!\n"), (V{"a", "!!", "\n"}));
  EXPECT_EQ(Split("qwen2", "a!!\n"), (V{"a", "!!\n"}));
}

TEST(PreTokenizerTest, DefaultForAVocabularyWithoutAName) {
  EXPECT_EQ(Split(PreTokenizer::Default(), "Hello, world 12345"), (V{"Hello", ",", " world", " ", "123", "45"}));
  EXPECT_EQ(PreTokenizer::Default().name(), "default");
}

TEST(PreTokenizerTest, WordsTileTheInputForEveryType) {
  const std::string s = "Hello, y'all! HowAre you \xf0\x9f\x98\x81 ?\xe6\x88\x91 1314151\n\t x  \r\n(z)";
  for (const std::string name :
       {"gpt-2", "llama3", "qwen2", "starcoder", "dbrx", "deepseek-llm", "deepseek-v3", "deepseek-coder", "falcon",
        "bloom", "viking", "tekken", "chameleon", "gpt-4o", "superbpe", "bailingmoe", "seed-coder"}) {
    std::string joined;
    for (const std::string& w : Split(name, s)) {
      EXPECT_FALSE(w.empty()) << name;
      joined += w;
    }
    EXPECT_EQ(joined, s) << name;
  }
}

TEST(PreTokenizerTest, LlamaCppNamesAndTheirFlags) {
  for (const char* name : {"mpt", "falcon3", "deepseek-r1-qwen", "command-r", "glm4", "llama4", "grok-2", "kormo"}) {
    EXPECT_TRUE(PreTokenizer::FromName(name).ok()) << name;
  }
  EXPECT_TRUE(PreTokenizer::FromName("llama3")->ignore_merges());
  EXPECT_TRUE(PreTokenizer::FromName("llama3")->add_bos());
  EXPECT_TRUE(PreTokenizer::FromName("tekken")->ignore_merges());
  EXPECT_FALSE(PreTokenizer::FromName("dbrx")->ignore_merges());  // llama3's regex, merges as usual.
  EXPECT_FALSE(PreTokenizer::FromName("qwen2")->ignore_merges());
  EXPECT_EQ(Split("dbrx", "abc 1234"), Split("llama3", "abc 1234"));
}

TEST(PreTokenizerTest, UnsupportedNamesAreErrors) {
  for (const auto& [name, text] : std::vector<std::pair<std::string, std::string>>{
           {"bogus", "unsupported pre-tokenizer 'bogus'"},
           {"kimi-k2", "hand-written code"},
           {"roberta-bpe", "appends a SEP token"}}) {
    const auto p = PreTokenizer::FromName(name);
    ASSERT_FALSE(p.ok()) << name;
    EXPECT_NE(p.status().message().find(text), std::string::npos) << p.status();
  }
}

}  // namespace
}  // namespace ggrt
