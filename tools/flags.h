// Plumbing shared by the tools: minimal command-line parsing (`--name value`, `--name=value`, short
// aliases, booleans; unknown flags and missing values are errors that name the flag) and a main() that
// prints a failed Status.
#ifndef GGRT_TOOLS_FLAGS_H_
#define GGRT_TOOLS_FLAGS_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/status/statusor.h"
#include "base/quote.h"
#include "loader/dtype.h"

namespace ggrt {

class Flags {
 public:
  // `spec`: for each flag its names ("-m", "--model") and whether it takes a value.
  struct Spec {
    std::vector<std::string> names;
    bool takes_value = true;
  };

  // Arguments that are not flags go to `positional` when given, and are errors otherwise.
  absl::Status Parse(int argc, char** argv, const std::vector<Spec>& specs,
                     std::vector<std::string>* positional = nullptr) {
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i], value;
      if (positional != nullptr && (arg.empty() || arg[0] != '-')) {
        positional->push_back(arg);
        continue;
      }
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
      if (spec == nullptr) return absl::InvalidArgumentError(absl::StrCat("unknown flag ", Quote(arg)));
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
  std::optional<std::string> GetOptional(const std::string& name) const {
    if (!Has(name)) return std::nullopt;
    return Get(name);
  }
  std::string Get(const std::string& name, const std::string& fallback = "") const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
  }
  // Integer in [lo, hi]; absent leaves `out` as is. Errors name the flag, the value and the range.
  absl::Status GetInt(const std::string& name, int* out, int lo, int hi) const {
    if (!Has(name)) return absl::OkStatus();
    int v;
    if (!absl::SimpleAtoi(Get(name), &v) || v < lo || v > hi) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": ", Quote(Get(name)), " is not an integer from ", lo, " to ", hi));
    }
    *out = v;
    return absl::OkStatus();
  }
  // Comma-separated integers, each in [lo, hi] (llama-bench's -p 512,2048); absent leaves `out` as is.
  absl::Status GetIntList(const std::string& name, std::vector<int>* out, int lo, int hi) const {
    if (!Has(name)) return absl::OkStatus();
    std::vector<int> values;
    const std::string text = Get(name);
    size_t start = 0;
    while (start <= text.size()) {
      const size_t comma = std::min(text.find(',', start), text.size());
      int v;
      if (!absl::SimpleAtoi(text.substr(start, comma - start), &v) || v < lo || v > hi) {
        return absl::InvalidArgumentError(absl::StrCat(name, ": ", Quote(text),
                                                       " is not a comma-separated list of integers from ", lo,
                                                       " to ", hi));
      }
      values.push_back(v);
      start = comma + 1;
    }
    *out = std::move(values);
    return absl::OkStatus();
  }
  // Unsigned 64-bit integer, the whole range (seeds); a sign is an error.
  absl::Status GetU64(const std::string& name, uint64_t* out) const {
    if (!Has(name)) return absl::OkStatus();
    const std::string v = Get(name);
    if (v.empty() || v[0] == '-' || v[0] == '+' || !absl::SimpleAtoi(v, out)) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": ", Quote(v), " is not an integer from 0 to 18446744073709551615"));
    }
    return absl::OkStatus();
  }
  // Finite number in [lo, hi], or (lo, hi] when `lo_open`; NaN and infinities are errors.
  absl::Status GetFloat(const std::string& name, float* out, float lo, float hi, bool lo_open = false) const {
    if (!Has(name)) return absl::OkStatus();
    float v;
    const bool parsed = absl::SimpleAtof(Get(name), &v) && std::isfinite(v);
    if (!parsed || v < lo || (lo_open && v == lo) || v > hi) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": ", Quote(Get(name)), " is not a number in ",
                                                     lo_open ? "(" : "[", lo, ", ", hi, "]"));
    }
    *out = v;
    return absl::OkStatus();
  }
  // One of `choices` (the first when absent).
  absl::StatusOr<std::string> GetChoice(const std::string& name, const std::vector<std::string>& choices) const {
    const std::string v = Get(name, choices.front());
    for (const std::string& c : choices) {
      if (c == v) return v;
    }
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": ", Quote(v), " is not one of ", absl::StrJoin(choices, ", ")));
  }

 private:
  std::map<std::string, std::string> values_;  // By the flag's last (long) name.
};

// The KV-cache type flags of the tools that run a model: --cache-type and llama.cpp's -ctk/-ctv (ggrt keeps K
// and V in one type, so they must agree). WithCacheTypeFlags appends them to a tool's specs.
inline const std::vector<Flags::Spec> kCacheTypeFlags = {
    {{"--cache-type"}}, {{"-ctk", "--cache-type-k"}}, {{"-ctv", "--cache-type-v"}}};
inline std::vector<Flags::Spec> WithCacheTypeFlags(std::vector<Flags::Spec> specs) {
  specs.insert(specs.end(), kCacheTypeFlags.begin(), kCacheTypeFlags.end());
  return specs;
}
inline absl::StatusOr<DType> CacheTypeFromFlags(const Flags& flags) {
  std::string type = "f16", given_by;
  for (const char* name : {"--cache-type", "--cache-type-k", "--cache-type-v"}) {
    if (!flags.Has(name)) continue;
    const std::string v = flags.Get(name);
    if (v != "f16" && v != "f32") {
      return absl::InvalidArgumentError(absl::StrCat(name, ": ", Quote(v), " is not one of f16, f32"));
    }
    if (!given_by.empty() && v != type) {
      return absl::InvalidArgumentError(absl::StrCat(name, " ", v, " differs from ", given_by, " ", type,
                                                     "; ggrt keeps K and V in one type"));
    }
    type = v, given_by = name;
  }
  return type == "f16" ? DType::kF16 : DType::kF32;
}

// Runs a tool's body: a failed Status is printed as "error: ..." and exits 1.
inline int RunTool(absl::Status (*body)(int, char**), int argc, char** argv) {
  const absl::Status s = body(argc, argv);
  if (s.ok()) return 0;
  std::fprintf(stderr, "error: %s\n", std::string(s.message()).c_str());
  return 1;
}

}  // namespace ggrt

#endif  // GGRT_TOOLS_FLAGS_H_
