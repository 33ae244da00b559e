// The merge engine shared by the SentencePiece and byte-level BPE tokenizers: a text's UTF-8 characters
// start as symbols, and the adjacent pair with the highest priority is merged until no pair may merge
// (among equal priorities the leftmost pair goes first, as both reference implementations do).
#ifndef GGRT_LOADER_SYMBOL_MERGE_H_
#define GGRT_LOADER_SYMBOL_MERGE_H_

#include <functional>
#include <optional>
#include <vector>

#include "absl/strings/string_view.h"

namespace ggrt {

// Priority of merging two adjacent pieces (higher merges first), or nullopt if they may not merge.
using MergePriority = std::function<std::optional<double>(absl::string_view left, absl::string_view right)>;

// The final pieces of `text`, in order, as views into it.
std::vector<absl::string_view> MergeSymbols(absl::string_view text, const MergePriority& priority);

}  // namespace ggrt

#endif  // GGRT_LOADER_SYMBOL_MERGE_H_
