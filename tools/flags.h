// Plumbing shared by the tools: minimal command-line parsing (`--name value`, `--name=value`, short
// aliases, booleans; unknown flags and missing values are errors that name the flag) and a main() that
// prints a failed Status.
#ifndef GGRT_TOOLS_FLAGS_H_
#define GGRT_TOOLS_FLAGS_H_

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace ggrt {

class Flags {
 public:
  // `spec`: for each flag its names ("-m", "--model") and whether it takes a value.
  struct Spec {
    std::vector<std::string> names;
    bool takes_value = true;
  };

  absl::Status Parse(int argc, char** argv, const std::vector<Spec>& specs) {
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i], value;
      bool has_inline = false;
      if (const size_t eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
        value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
        has_inline = true;
      }
      const Spec* spec = nullptr;
      for (const Spec& s : specs) {
        for (const std::string& n : s.names) {
          if (n == arg) spec = &s;
        }
      }
      if (spec == nullptr) return absl::InvalidArgumentError(absl::StrCat("unknown flag '", arg, "'"));
      if (spec->takes_value && !has_inline) {
        if (i + 1 >= argc) return absl::InvalidArgumentError(absl::StrCat("flag ", arg, " needs a value"));
        value = argv[++i];
      } else if (!spec->takes_value) {
        if (has_inline) return absl::InvalidArgumentError(absl::StrCat("flag ", arg, " takes no value"));
        value = "true";
      }
      values_[spec->names.back()] = value;
    }
    return absl::OkStatus();
  }

  bool Has(const std::string& name) const { return values_.count(name) != 0; }
  std::string Get(const std::string& name, const std::string& fallback = "") const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
  }
  absl::Status GetInt(const std::string& name, int* out) const {
    if (!Has(name)) return absl::OkStatus();
    if (!absl::SimpleAtoi(Get(name), out)) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": '", Get(name), "' is not an integer"));
    }
    return absl::OkStatus();
  }
  absl::Status GetFloat(const std::string& name, float* out) const {
    if (!Has(name)) return absl::OkStatus();
    if (!absl::SimpleAtof(Get(name), out)) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": '", Get(name), "' is not a number"));
    }
    return absl::OkStatus();
  }

 private:
  std::map<std::string, std::string> values_;  // By the flag's last (long) name.
};

// Runs a tool's body: a failed Status is printed as "error: ..." and exits 1.
inline int RunTool(absl::Status (*body)(int, char**), int argc, char** argv) {
  const absl::Status s = body(argc, argv);
  if (s.ok()) return 0;
  std::fprintf(stderr, "error: %s\n", std::string(s.message()).c_str());
  return 1;
}

}  // namespace ggrt

#endif  // GGRT_TOOLS_FLAGS_H_
