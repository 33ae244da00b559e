#include "loader/unicode_regex.h"

#include "absl/strings/str_cat.h"
#include "loader/unicode.h"

namespace ggrt {

// One item of a character set: a range of code points, or a category (negated for \S, \P{X}, \D).
struct SetItem {
  uint32_t lo = 0, hi = 0;
  bool is_category = false;
  UnicodeCategory category = UnicodeCategory::kLetter;
  bool negated = false;
};

struct UnicodeRegex::Node {
  enum Kind { kEmpty, kSet, kConcat, kAlt, kRepeat, kLook, kEnd } kind = kEmpty;
  std::vector<SetItem> items;  // kSet
  bool negated = false;        // kSet: [^...]; kLook: (?!...)
  std::vector<Node*> children;
  int min = 0, max = -1;  // kRepeat; max -1 is unbounded
  // Matches exactly one code point decided by that code point alone (a set, an alternation of such, or
  // lookaheads of such followed by one): repeats of it scan instead of recursing.
  bool single = false;
};

namespace {

using Node = UnicodeRegex::Node;

bool InSet(const Node* n, uint32_t cp) {
  bool in = false;
  for (const SetItem& item : n->items) {
    const bool hit = item.is_category ? InCategory(item.category, cp) != item.negated : cp >= item.lo && cp <= item.hi;
    if (hit) {
      in = true;
      break;
    }
  }
  return in != n->negated;
}

// For a `single` node: whether it accepts cp.
bool TestOne(const Node* n, uint32_t cp) {
  switch (n->kind) {
    case Node::kSet: return InSet(n, cp);
    case Node::kAlt:
      for (const Node* c : n->children) {
        if (TestOne(c, cp)) return true;
      }
      return false;
    case Node::kConcat:
      for (size_t i = 0; i + 1 < n->children.size(); ++i) {
        const Node* look = n->children[i];
        if (TestOne(look->children[0], cp) == look->negated) return false;
      }
      return TestOne(n->children.back(), cp);
    default: return false;
  }
}

class Parser {
 public:
  Parser(absl::string_view pattern, std::vector<std::unique_ptr<Node>>* nodes)
      : pattern_(pattern), nodes_(nodes) {
    for (const Utf8Char& c : DecodeUtf8(pattern)) cps_.push_back(c.cp);
  }

  absl::StatusOr<Node*> Parse() {
    auto root = ParseAlt(false);
    if (!root.ok()) return root.status();
    if (pos_ != cps_.size()) return Error("unbalanced ')'");
    return *root;
  }

 private:
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("regex '", pattern_, "': ", what, " at code point ", pos_));
  }
  Node* New(Node::Kind kind) {
    nodes_->push_back(std::make_unique<Node>());
    nodes_->back()->kind = kind;
    return nodes_->back().get();
  }
  bool Peek(uint32_t c) const { return pos_ < cps_.size() && cps_[pos_] == c; }

  absl::StatusOr<Node*> ParseAlt(bool icase) {
    Node* alt = New(Node::kAlt);
    while (true) {
      auto branch = ParseConcat(icase);
      if (!branch.ok()) return branch.status();
      alt->children.push_back(*branch);
      if (!Peek('|')) break;
      ++pos_;
    }
    if (alt->children.size() == 1) return alt->children[0];
    alt->single = true;
    for (const Node* c : alt->children) alt->single &= c->single;
    return alt;
  }

  absl::StatusOr<Node*> ParseConcat(bool icase) {
    Node* concat = New(Node::kConcat);
    while (pos_ < cps_.size() && !Peek('|') && !Peek(')')) {
      auto atom = ParseQuantified(icase);
      if (!atom.ok()) return atom.status();
      concat->children.push_back(*atom);
    }
    if (concat->children.empty()) return New(Node::kEmpty);
    if (concat->children.size() == 1) return concat->children[0];
    // Lookaheads of single code points, then one single code point: a single code point with conditions.
    concat->single = concat->children.back()->single;
    for (size_t i = 0; i + 1 < concat->children.size(); ++i) {
      const Node* c = concat->children[i];
      concat->single &= c->kind == Node::kLook && c->children[0]->single;
    }
    return concat;
  }

  absl::StatusOr<Node*> ParseQuantified(bool icase) {
    auto atom = ParseAtom(icase);
    if (!atom.ok()) return atom.status();
    Node* node = *atom;
    while (pos_ < cps_.size()) {
      int min, max;
      const uint32_t c = cps_[pos_];
      if (c == '?') {
        min = 0, max = 1;
      } else if (c == '*') {
        min = 0, max = -1;
      } else if (c == '+') {
        min = 1, max = -1;
      } else if (c == '{') {
        size_t p = pos_ + 1;
        auto number = [&](int* out) {
          const size_t start = p;
          *out = 0;
          while (p < cps_.size() && cps_[p] >= '0' && cps_[p] <= '9' && *out < 100000) *out = *out * 10 + (cps_[p++] - '0');
          return p > start;
        };
        if (!number(&min)) return Error("expected a count after '{'");
        max = min;
        if (p < cps_.size() && cps_[p] == ',') {
          ++p;
          max = -1;
          if (p < cps_.size() && cps_[p] != '}' && !number(&max)) return Error("bad repeat bound");
        }
        if (p >= cps_.size() || cps_[p] != '}' || (max >= 0 && max < min)) return Error("bad repeat '{...}'");
        pos_ = p;
      } else {
        break;
      }
      ++pos_;
      if (Peek('?') || Peek('+')) return Error("lazy and possessive quantifiers are not supported");
      if (node->kind == Node::kLook || node->kind == Node::kEnd || node->kind == Node::kEmpty) {
        return Error("nothing to repeat");
      }
      Node* rep = New(Node::kRepeat);
      rep->children = {node};
      rep->min = min, rep->max = max;
      node = rep;
    }
    return node;
  }

  absl::StatusOr<Node*> ParseAtom(bool icase) {
    const uint32_t c = cps_[pos_++];
    switch (c) {
      case '(': {
        bool inner_icase = icase;
        Node* look = nullptr;
        if (Peek('?')) {
          ++pos_;
          if (Peek(':')) {
            ++pos_;
          } else if (Peek('i') && pos_ + 1 < cps_.size() && cps_[pos_ + 1] == ':') {
            pos_ += 2;
            inner_icase = true;
          } else if (Peek('=') || Peek('!')) {
            look = New(Node::kLook);
            look->negated = cps_[pos_++] == '!';
          } else {
            return Error("unsupported group");
          }
        }
        auto inner = ParseAlt(inner_icase);
        if (!inner.ok()) return inner.status();
        if (!Peek(')')) return Error("missing ')'");
        ++pos_;
        if (look == nullptr) return *inner;
        look->children = {*inner};
        return look;
      }
      case '[': return ParseClass(icase);
      case '.': {  // Any code point but line breaks, as ECMAScript's '.'.
        Node* n = New(Node::kSet);
        n->items = {{'\n', '\n'}, {'\r', '\r'}, {0x2028, 0x2029}};
        n->negated = true;
        n->single = true;
        return n;
      }
      case '$': return New(Node::kEnd);
      case ')':
      case '|':
      case '*':
      case '+':
      case '?':
      case '{': --pos_; return Error("unexpected character");
      default: {
        Node* n = New(Node::kSet);
        n->single = true;
        if (c == '\\') {
          auto items = ParseEscape();
          if (!items.ok()) return items.status();
          n->items = *items;
        } else {
          n->items = {{c, c}};
        }
        if (icase) AddOtherCase(n);
        return n;
      }
    }
  }

  // ASCII letters of a set also match their other case.
  static void AddOtherCase(Node* n) {
    const size_t count = n->items.size();
    for (size_t i = 0; i < count; ++i) {
      const SetItem item = n->items[i];
      if (item.is_category || item.lo != item.hi) continue;
      const uint32_t c = item.lo;
      if (c >= 'a' && c <= 'z') n->items.push_back({c - 32, c - 32});
      if (c >= 'A' && c <= 'Z') n->items.push_back({c + 32, c + 32});
    }
  }

  // After a backslash: the set items it stands for.
  absl::StatusOr<std::vector<SetItem>> ParseEscape() {
    if (pos_ >= cps_.size()) return Error("trailing backslash");
    const uint32_t c = cps_[pos_++];
    auto category = [](UnicodeCategory cat, bool negated) {
      SetItem item;
      item.is_category = true, item.category = cat, item.negated = negated;
      return std::vector<SetItem>{item};
    };
    switch (c) {
      case 'r': return std::vector<SetItem>{{'\r', '\r'}};
      case 'n': return std::vector<SetItem>{{'\n', '\n'}};
      case 't': return std::vector<SetItem>{{'\t', '\t'}};
      case 'f': return std::vector<SetItem>{{'\f', '\f'}};
      case 'v': return std::vector<SetItem>{{'\v', '\v'}};
      case 's': return category(UnicodeCategory::kWhitespace, false);
      case 'S': return category(UnicodeCategory::kWhitespace, true);
      case 'd': return std::vector<SetItem>{{'0', '9'}};
      case 'D': {
        std::vector<SetItem> not_digit = {{0, '0' - 1}, {'9' + 1, 0x10FFFF}};
        return not_digit;
      }
      case 'p':
      case 'P': {
        if (!Peek('{')) return Error("expected '{' after \\p");
        ++pos_;
        std::string name;
        while (pos_ < cps_.size() && cps_[pos_] != '}') name.push_back(static_cast<char>(cps_[pos_++]));
        if (!Peek('}')) return Error("unterminated \\p{");
        ++pos_;
        static constexpr std::pair<const char*, UnicodeCategory> kCategories[] = {
            {"L", UnicodeCategory::kLetter},          {"Lu", UnicodeCategory::kUppercase},
            {"Ll", UnicodeCategory::kLowercase},      {"Lt", UnicodeCategory::kTitlecase},
            {"Lm", UnicodeCategory::kModifierLetter}, {"Lo", UnicodeCategory::kOtherLetter},
            {"M", UnicodeCategory::kMark},            {"N", UnicodeCategory::kNumber},
            {"P", UnicodeCategory::kPunctuation},     {"S", UnicodeCategory::kSymbol},
        };
        for (const auto& [n, cat] : kCategories) {
          if (name == n) return category(cat, c == 'P');
        }
        return Error(absl::StrCat("unsupported category \\p{", name, "}"));
      }
      default:
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
          return Error(absl::StrCat("unsupported escape \\", std::string(1, static_cast<char>(c))));
        }
        return std::vector<SetItem>{{c, c}};  // Escaped punctuation stands for itself.
    }
  }

  absl::StatusOr<Node*> ParseClass(bool icase) {
    Node* n = New(Node::kSet);
    n->single = true;
    if (Peek('^')) {
      n->negated = true;
      ++pos_;
    }
    while (true) {
      if (pos_ >= cps_.size()) return Error("unterminated '['");
      uint32_t c = cps_[pos_++];
      if (c == ']') break;
      if (c == '\\') {
        auto items = ParseEscape();
        if (!items.ok()) return items.status();
        // A single escaped character may start a range; categories may not.
        if (items->size() == 1 && !(*items)[0].is_category && (*items)[0].lo == (*items)[0].hi) {
          c = (*items)[0].lo;
        } else {
          n->items.insert(n->items.end(), items->begin(), items->end());
          continue;
        }
      }
      uint32_t hi = c;
      if (Peek('-') && pos_ + 1 < cps_.size() && cps_[pos_ + 1] != ']') {
        ++pos_;
        hi = cps_[pos_++];
        if (hi == '\\') {
          auto items = ParseEscape();
          if (!items.ok()) return items.status();
          if (items->size() != 1 || (*items)[0].is_category) return Error("bad range end");
          hi = (*items)[0].lo;
        }
        if (hi < c) return Error("range out of order");
      }
      n->items.push_back({c, hi});
    }
    if (icase) AddOtherCase(n);
    return n;
  }

  std::string pattern_;
  std::vector<uint32_t> cps_;
  size_t pos_ = 0;
  std::vector<std::unique_ptr<Node>>* nodes_;
};

// What remains to match after a node: the node to continue with (a concatenation at child `index`, or a
// repeat after `index` iterations, the last of which started at `start`), then `next`.
struct Cont {
  const Node* node;
  int index;
  size_t start;
  const Cont* next;
};

class Matcher {
 public:
  explicit Matcher(absl::Span<const uint32_t> text) : text_(text) {}

  // Matches `n` at `at` (for concatenations and repeats, from child or iteration `index`), then `k`.
  bool Match(const Node* n, int index, size_t start, size_t at, const Cont* k) {
    switch (n->kind) {
      case Node::kEmpty: return Continue(k, at);
      case Node::kSet:
      case Node::kAlt:
        if (n->single) return at < text_.size() && TestOne(n, text_[at]) && Continue(k, at + 1);
        for (const Node* c : n->children) {
          if (Match(c, 0, at, at, k)) return true;
        }
        return false;
      case Node::kConcat: {
        if (n->single && index == 0) return at < text_.size() && TestOne(n, text_[at]) && Continue(k, at + 1);
        if (index == static_cast<int>(n->children.size())) return Continue(k, at);
        const Cont rest{n, index + 1, 0, k};
        return Match(n->children[index], 0, at, at, &rest);
      }
      case Node::kRepeat: {
        const Node* child = n->children[0];
        if (child->single) {  // Scan the longest run, then give back one at a time.
          size_t end = at;
          while (end < text_.size() && (n->max < 0 || static_cast<int>(end - at) < n->max) &&
                 TestOne(child, text_[end])) {
            ++end;
          }
          for (size_t e = end + 1; e-- > at + n->min;) {
            if (Continue(k, e)) return true;
          }
          return false;
        }
        // An iteration that consumed nothing ends the loop (else it would repeat forever).
        const bool progressed = index == 0 || at > start;
        if (progressed && (n->max < 0 || index < n->max)) {
          const Cont again{n, index + 1, at, k};
          if (Match(child, 0, at, at, &again)) return true;
        }
        return index >= n->min && Continue(k, at);
      }
      case Node::kLook: {
        const bool found = Match(n->children[0], 0, at, at, nullptr);
        return found != n->negated && Continue(k, at);
      }
      case Node::kEnd: return at == text_.size() && Continue(k, at);
    }
    return false;
  }

  size_t end() const { return end_; }

 private:
  bool Continue(const Cont* k, size_t at) {
    if (k == nullptr) {
      end_ = at;
      return true;
    }
    return Match(k->node, k->index, k->start, at, k->next);
  }

  absl::Span<const uint32_t> text_;
  size_t end_ = 0;
};

}  // namespace

UnicodeRegex::UnicodeRegex(UnicodeRegex&&) noexcept = default;
UnicodeRegex& UnicodeRegex::operator=(UnicodeRegex&&) noexcept = default;
UnicodeRegex::~UnicodeRegex() = default;

absl::StatusOr<UnicodeRegex> UnicodeRegex::Compile(absl::string_view pattern) {
  UnicodeRegex r;
  r.pattern_ = std::string(pattern);
  Parser parser(pattern, &r.nodes_);
  auto root = parser.Parse();
  if (!root.ok()) return root.status();
  // The root must come first: move it to the front.
  for (size_t i = 0; i < r.nodes_.size(); ++i) {
    if (r.nodes_[i].get() == *root) std::swap(r.nodes_[0], r.nodes_[i]);
  }
  return r;
}

int64_t UnicodeRegex::MatchAt(absl::Span<const uint32_t> text, size_t at) const {
  Matcher m(text);
  // Lookahead results are not what a match returns: a top-level kLook matches empty.
  if (!m.Match(nodes_[0].get(), 0, at, at, nullptr)) return -1;
  return static_cast<int64_t>(m.end());
}

}  // namespace ggrt
