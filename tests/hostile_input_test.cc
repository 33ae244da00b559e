// Runs the tools on hostile inputs, as a careless or hostile user would: the bad command lines of
// hostile_command_lines.txt, and generate and dump_graph on every crafted model of HostileModelCorpus(). Each
// run must end by itself with its expected outcome (an error message with the expected text and exit
// status 1, never a signal), within 10 s and 2 GiB of RSS, under an address-space limit.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "loader/gguf_corpus.h"
#include "loader/gguf_writer.h"

namespace ggrt {
namespace {

constexpr double kMaxSeconds = 10.0;
constexpr int64_t kMaxRssBytes = int64_t{2} << 30;
// Virtual: the tools map about 1 GiB of cuBLAS before they start.
constexpr rlim_t kAddressSpace = rlim_t{3} << 30;

struct RunResult {
  bool exited = false;  // Rather than killed by a signal (or by us at the deadline).
  int exit_code = -1;
  int signal = 0;
  double seconds = 0;
  int64_t max_rss_bytes = 0;
  std::string stderr_text;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

RunResult RunTool(std::vector<std::string> args, const std::string& tmp) {
  std::string stdin_path = "/dev/null";
  std::erase_if(args, [&](const std::string& a) {
    if (a.empty() || a[0] != '<') return false;
    stdin_path = a.substr(1);
    return true;
  });
  const std::string err_path = tmp + "/stderr.txt";
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    struct rlimit as = {kAddressSpace, kAddressSpace};
    setrlimit(RLIMIT_AS, &as);
    const int in = open(stdin_path.c_str(), O_RDONLY | O_NONBLOCK);
    const int out = open("/dev/null", O_WRONLY);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(in, 0), dup2(out, 1), dup2(err, 2);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  RunResult r;
  int status = 0;
  struct rusage usage = {};
  for (;;) {
    const pid_t done = wait4(pid, &status, WNOHANG, &usage);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (done == pid) break;
    if (r.seconds > 2 * kMaxSeconds) {  // A hang: stop it, and report it as one.
      kill(pid, SIGKILL);
      wait4(pid, &status, 0, &usage);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  r.exited = WIFEXITED(status);
  r.exit_code = r.exited ? WEXITSTATUS(status) : -1;
  r.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  r.max_rss_bytes = static_cast<int64_t>(usage.ru_maxrss) * 1024;
  r.stderr_text = ReadAll(err_path);
  return r;
}

struct Case {
  std::string name;
  bool expect_error = true;
  std::string text;
  std::vector<std::string> args;
  bool error_after_output = false;  // The error may follow other lines (the server's "listening on").
};

// Splits on spaces; "double quotes" keep spaces.
std::vector<std::string> SplitArgs(absl::string_view command) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false, any = false;
  for (char c : command) {
    if (c == '"') {
      quoted = !quoted;
      any = true;
    } else if (c == ' ' && !quoted) {
      if (any) out.push_back(cur);
      cur.clear();
      any = false;
    } else {
      cur += c;
      any = true;
    }
  }
  if (any) out.push_back(cur);
  return out;
}

class HostileInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* dir = std::getenv("TEST_TMPDIR");
    tmp_ = std::string(dir != nullptr ? dir : "/tmp") + "/hostile";
    mkdir(tmp_.c_str(), 0755);
    for (const CorruptGguf& c : HostileModelCorpus()) {
      std::ofstream(tmp_ + "/" + c.name + ".gguf", std::ios::binary) << c.bytes;
    }
    mkfifo((tmp_ + "/fifo").c_str(), 0600);
    std::ofstream(tmp_ + "/empty.inp");
    std::ofstream(tmp_ + "/empty.out");
    // A vocabulary of 151,936 control tokens, and 16 KB of text that keeps nearly matching them.
    GgufWriter w;
    w.SetString("tokenizer.ggml.model", "llama");
    std::vector<std::string> tokens;
    std::vector<int32_t> types;
    for (int i = 0; i < 151936; ++i) {
      tokens.push_back(absl::StrCat("<|special_", i, "|>"));
      types.push_back(3);
    }
    w.SetStringArray("tokenizer.ggml.tokens", tokens);
    w.SetI32Array("tokenizer.ggml.token_type", types);
    ASSERT_TRUE(w.WriteFile(tmp_ + "/specials.gguf").ok());
    std::string text;
    while (text.size() < 16384) absl::StrAppend(&text, "<|special_", text.size() % 151937, "| <|special_1");
    std::ofstream(tmp_ + "/text16k.txt") << text;
  }

  static std::string Expand(std::string s) {
    return absl::StrReplaceAll(s, {{"{generate}", "tools/generate"},
                                   {"{dump_graph}", "tools/dump_graph"},
                                   {"{tokenize}", "tools/tokenize"},
                                   {"{gguf_dump}", "tools/gguf_dump"},
                                   {"{quantize}", "tools/quantize"},
                                   {"{perplexity}", "tools/perplexity"},
                                   {"{server}", "tools/server"},
                                   {"{stories}", "external/shared/models/stories260K.gguf"},
                                   {"{tmp}", tmp_}});
  }

  static void Check(const Case& c) {
    SCOPED_TRACE(c.name);
    const RunResult r = RunTool(c.args, tmp_);
    EXPECT_TRUE(r.exited) << c.name << ": killed by signal " << r.signal << " after " << r.seconds << " s\n"
                          << r.stderr_text;
    EXPECT_EQ(r.exit_code, c.expect_error ? 1 : 0) << c.name << ":\n" << r.stderr_text;
    EXPECT_NE(r.stderr_text.find(c.text), std::string::npos)
        << c.name << ": stderr lacks \"" << c.text << "\":\n" << r.stderr_text;
    if (c.expect_error && !c.error_after_output) {
      // One error line: names from files are escaped, so nothing splits it.
      EXPECT_EQ(std::count(r.stderr_text.begin(), r.stderr_text.end(), '\n'), 1) << c.name << ":\n"
                                                                                  << r.stderr_text;
    }
    EXPECT_LE(r.seconds, kMaxSeconds) << c.name;
    EXPECT_LE(r.max_rss_bytes, kMaxRssBytes) << c.name;
  }

  static std::string tmp_;
};

std::string HostileInputTest::tmp_;

TEST_F(HostileInputTest, BadCommandLines) {
  std::ifstream in("tests/hostile_command_lines.txt");
  ASSERT_TRUE(in.good());
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f = absl::StrSplit(line, " | ");
    ASSERT_EQ(f.size(), 4u) << line;
    ASSERT_TRUE(f[1] == "error" || f[1] == "late error" || f[1] == "ok") << line;
    Check({f[0], f[1] != "ok", std::string(absl::StripAsciiWhitespace(f[2])), SplitArgs(Expand(f[3])),
           f[1] == "late error"});
    ++n;
  }
  EXPECT_GE(n, 35);
}

TEST_F(HostileInputTest, CraftedModels) {
  for (const CorruptGguf& c : HostileModelCorpus()) {
    const std::string path = tmp_ + "/" + c.name + ".gguf";
    // Runaway sizes that are bounded rather than refused must still generate.
    const bool refused = c.expected_error.find("context set to") == std::string::npos && !c.expected_error.empty();
    Check({"generate " + c.name, refused, c.expected_error,
           {"tools/generate", "-m", path, "-n", "4", "--backend", "cpu", "-p", "a b"}});
    // dump_graph reads the config and the tensors but not the tokenizer, and allocates no KV cache.
    if (c.name != "bad_byte_token" && refused) {
      Check({"dump_graph " + c.name, true, c.expected_error, {"tools/dump_graph", "-m", path}});
    }
  }
}

}  // namespace
}  // namespace ggrt
