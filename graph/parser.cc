#include "graph/parser.h"

#include <cctype>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"
#include "graph/printer.h"

namespace ggrt {
namespace {

// A cursor over one line.
class Cursor {
 public:
  explicit Cursor(absl::string_view s) : s_(s) {}

  void SkipSpace() {
    while (!s_.empty() && s_[0] == ' ') s_.remove_prefix(1);
  }
  bool Done() {
    SkipSpace();
    return s_.empty();
  }
  bool Consume(absl::string_view token) {
    SkipSpace();
    return absl::ConsumePrefix(&s_, token);
  }
  absl::Status Expect(absl::string_view token) {
    if (Consume(token)) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat("expected '", token, "' at '", s_, "'"));
  }
  // Characters of names, op names, numbers and keywords.
  absl::string_view Word() {
    SkipSpace();
    size_t n = 0;
    while (n < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[n])) || s_[n] == '_' || s_[n] == '.' ||
                             s_[n] == '-' || s_[n] == '+')) {
      ++n;
    }
    absl::string_view w = s_.substr(0, n);
    s_.remove_prefix(n);
    return w;
  }
  absl::StatusOr<std::string> Name() {
    RETURN_IF_ERROR(Expect("%"));
    absl::string_view w = Word();
    RET_CHECK(!w.empty(), "expected a value name after '%'");
    return std::string(w);
  }
  absl::StatusOr<TensorType> Type() {
    TensorType t;
    ASSIGN_OR_RETURN(t.dtype, DTypeFromName(Word()));
    RETURN_IF_ERROR(Expect("["));
    if (!Consume("]")) {
      for (absl::string_view d : absl::StrSplit(Until(']'), ',')) {
        int64_t v;
        RET_CHECK(absl::SimpleAtoi(d, &v) && v > 0, "bad dimension '", d, "'");
        t.shape.push_back(v);
      }
      RETURN_IF_ERROR(Expect("]"));
    }
    return t;
  }
  absl::string_view Until(char c) {
    const size_t n = std::min(s_.find(c), s_.size());
    absl::string_view w = s_.substr(0, n);
    s_.remove_prefix(n);
    return w;
  }

 private:
  absl::string_view s_;
};

absl::StatusOr<Attrs> ParseAttrs(OpKind op, absl::string_view body) {
  absl::flat_hash_map<std::string, std::string> kv;
  for (absl::string_view item : absl::StrSplit(body, ',', absl::SkipWhitespace())) {
    std::pair<absl::string_view, absl::string_view> p = absl::StrSplit(item, absl::MaxSplits('=', 1));
    kv[absl::StripAsciiWhitespace(p.first)] = std::string(absl::StripAsciiWhitespace(p.second));
  }
  auto take = [&](const char* key) -> absl::StatusOr<std::string> {
    auto it = kv.find(key);
    RET_CHECK(it != kv.end(), OpName(op), ": missing attribute '", key, "'");
    std::string v = it->second;
    kv.erase(it);
    return v;
  };
  auto as_float = [&](const char* key) -> absl::StatusOr<float> {
    ASSIGN_OR_RETURN(const std::string s, take(key));
    float f;
    RET_CHECK(absl::SimpleAtof(s, &f), "attribute ", key, ": bad number '", s, "'");
    return f;
  };
  auto as_int = [&](const char* key) -> absl::StatusOr<int> {
    ASSIGN_OR_RETURN(const std::string s, take(key));
    int i;
    RET_CHECK(absl::SimpleAtoi(s, &i), "attribute ", key, ": bad integer '", s, "'");
    return i;
  };
  auto rope = [&]() -> absl::StatusOr<RopeAttrs> {
    RopeAttrs a;
    ASSIGN_OR_RETURN(a.theta, as_float("theta"));
    ASSIGN_OR_RETURN(a.dims, as_int("dims"));
    ASSIGN_OR_RETURN(a.head_dim, as_int("head_dim"));
    ASSIGN_OR_RETURN(const std::string neox, take("neox"));
    RET_CHECK(neox == "true" || neox == "false", "attribute neox: expected true or false");
    a.neox = neox == "true";
    if (kv.contains("freq_scale")) {
      ASSIGN_OR_RETURN(a.freq_scale, as_float("freq_scale"));
    }
    return a;
  };
  auto attention_extras = [&](AttentionAttrs* a) -> absl::Status {
    if (kv.contains("softcap")) {
      ASSIGN_OR_RETURN(a->softcap, as_float("softcap"));
    }
    if (kv.contains("window")) {
      ASSIGN_OR_RETURN(a->window, as_int("window"));
    }
    return absl::OkStatus();
  };
  Attrs attrs;
  switch (op) {
    case OpKind::kRmsNorm:
    case OpKind::kFusedResidualRmsNorm:
    case OpKind::kFusedNormMatmul:
    case OpKind::kFusedNormGateUpSwiglu: {
      RmsNormAttrs a;
      ASSIGN_OR_RETURN(a.eps, as_float("eps"));
      attrs = a;
      break;
    }
    case OpKind::kRope:
    case OpKind::kFusedBiasRope: {
      ASSIGN_OR_RETURN(attrs, rope());
      break;
    }
    case OpKind::kFusedRopeAttention: {
      RopeAttentionAttrs a;
      ASSIGN_OR_RETURN(a.rope, rope());
      ASSIGN_OR_RETURN(a.attention.heads, as_int("heads"));
      ASSIGN_OR_RETURN(a.attention.kv_heads, as_int("kv_heads"));
      ASSIGN_OR_RETURN(a.attention.scale, as_float("scale"));
      RETURN_IF_ERROR(attention_extras(&a.attention));
      a.attention.head_dim = a.rope.head_dim;
      attrs = a;
      break;
    }
    case OpKind::kAttention: {
      AttentionAttrs a;
      ASSIGN_OR_RETURN(a.heads, as_int("heads"));
      ASSIGN_OR_RETURN(a.kv_heads, as_int("kv_heads"));
      ASSIGN_OR_RETURN(a.head_dim, as_int("head_dim"));
      ASSIGN_OR_RETURN(a.scale, as_float("scale"));
      RETURN_IF_ERROR(attention_extras(&a));
      attrs = a;
      break;
    }
    case OpKind::kEmbedding: {
      if (kv.empty()) break;  // No attributes: unscaled.
      EmbeddingAttrs a;
      ASSIGN_OR_RETURN(a.scale, as_float("scale"));
      attrs = a;
      break;
    }
    case OpKind::kSoftcap: {
      SoftcapAttrs a;
      ASSIGN_OR_RETURN(a.cap, as_float("cap"));
      attrs = a;
      break;
    }
    default:
      break;
  }
  RET_CHECK(kv.empty(), OpName(op), ": unknown attribute '", kv.begin()->first, "'");
  return attrs;
}

absl::Status ParseNodeLine(Graph& g, Cursor& c) {
  std::vector<std::string> names;
  do {
    ASSIGN_OR_RETURN(std::string name, c.Name());
    names.push_back(std::move(name));
  } while (c.Consume(","));
  RETURN_IF_ERROR(c.Expect("="));
  const absl::string_view op_name = c.Word();
  ASSIGN_OR_RETURN(const OpKind op, OpKindFromName(op_name));
  Attrs attrs;
  if (c.Consume("[")) {
    const absl::string_view body = c.Until(']');
    RETURN_IF_ERROR(c.Expect("]"));
    ASSIGN_OR_RETURN(attrs, ParseAttrs(op, body));
  }
  RETURN_IF_ERROR(c.Expect("("));
  std::vector<Value*> operands;
  if (!c.Consume(")")) {
    do {
      ASSIGN_OR_RETURN(const std::string name, c.Name());
      Value* v = g.FindValue(name);
      RET_CHECK(v != nullptr, "use of undefined value '%", name, "'");
      operands.push_back(v);
    } while (c.Consume(","));
    RETURN_IF_ERROR(c.Expect(")"));
  }
  RETURN_IF_ERROR(c.Expect(":"));
  std::vector<TensorType> declared;
  do {
    ASSIGN_OR_RETURN(TensorType t, c.Type());
    declared.push_back(std::move(t));
  } while (c.Consume(","));
  RET_CHECK(c.Done(), "unexpected text after the node");
  ASSIGN_OR_RETURN(Node * node, g.AddNode(op, names, std::move(operands), std::move(attrs)));
  for (size_t i = 0; i < declared.size() && i < node->results.size(); ++i) {
    RET_CHECK(declared[i] == node->results[i]->type, "%", names[i], " declared ", TypeToString(declared[i]),
              " but ", OpName(op), " yields ", TypeToString(node->results[i]->type));
  }
  RET_CHECK(declared.size() == node->results.size(), "declared ", declared.size(), " types for ",
            node->results.size(), " results");
  return absl::OkStatus();
}

absl::Status ParseLine(Graph& g, absl::string_view line) {
  Cursor c(line);
  for (const char* kind : {"input", "param", "state"}) {
    if (c.Consume(absl::StrCat(kind, " "))) {
      ASSIGN_OR_RETURN(const std::string name, c.Name());
      RETURN_IF_ERROR(c.Expect(":"));
      ASSIGN_OR_RETURN(TensorType t, c.Type());
      RET_CHECK(c.Done(), "unexpected text after the declaration");
      const std::string k = kind;
      if (k == "input") return g.AddInput(name, std::move(t)).status();
      if (k == "param") return g.AddParam(name, std::move(t)).status();
      return g.AddState(name, std::move(t)).status();
    }
  }
  if (c.Consume("output ")) {
    ASSIGN_OR_RETURN(const std::string name, c.Name());
    Value* v = g.FindValue(name);
    RET_CHECK(v != nullptr, "output of undefined value '%", name, "'");
    return g.AddOutput(v);
  }
  return ParseNodeLine(g, c);
}

}  // namespace

absl::StatusOr<Graph> ParseGraph(absl::string_view text) {
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  size_t i = 0;
  auto next_line = [&]() -> absl::string_view {
    while (i < lines.size()) {
      absl::string_view l = absl::StripAsciiWhitespace(lines[i++]);
      if (!l.empty() && !absl::StartsWith(l, "#")) return l;
    }
    return "";
  };
  absl::string_view header = next_line();
  RET_CHECK(absl::ConsumePrefix(&header, "graph ") && absl::ConsumeSuffix(&header, "{"),
            "line ", i, ": expected 'graph NAME {'");
  Graph g(std::string(absl::StripAsciiWhitespace(header)));
  bool closed = false;
  for (absl::string_view line = next_line(); !line.empty(); line = next_line()) {
    if (line == "}") {
      closed = true;
      break;
    }
    absl::Status s = ParseLine(g, line);
    if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat("line ", i, ": ", s.message()));
  }
  RET_CHECK(closed, "missing closing '}'");
  return g;
}

}  // namespace ggrt
