#include "runtime/executor.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "ops/kv_pages.h"

namespace ggrt {

int BatchBucket(int rows) {
  int bucket = kMinBatchBucket;
  while (bucket < rows) bucket *= 2;
  return bucket;
}

absl::Status Executor::LimitContext(int ctx) {
  if (ctx < 1 || ctx > ctx_size_) {
    return absl::InvalidArgumentError(absl::StrCat("context ", ctx, " exceeds the KV cache of ", ctx_size_));
  }
  ctx_size_ = ctx;
  return absl::OkStatus();
}

absl::Status Executor::InitShapes(const Graph& decode) {
  RET_CHECK(!decode.states().empty(), "decode graph has no KV cache");
  const Value* pos = decode.FindValue("pos");
  RET_CHECK(pos != nullptr && IsBatchedPos(*pos), "decode graph has no batched %pos input");
  kv_pool_pages_ = static_cast<int>(decode.states()[0]->type.shape[0] / kKvPageSize);
  max_sequence_pages_ = static_cast<int>(BlockTablePages(*pos));
  RET_CHECK(max_sequence_pages_ >= 1 && max_sequence_pages_ <= kv_pool_pages_, "a block table of ",
            max_sequence_pages_, " pages over a pool of ", kv_pool_pages_);
  ctx_size_ = max_sequence_pages_ * kKvPageSize;
  lone_table_ = LoneSequenceBlockTable(max_sequence_pages_);
  greedy_ = decode.outputs()[0]->type.dtype == DType::kI32;
  for (const Node* n : decode.nodes()) {
    if (n->op == OpKind::kEmbedding) embedding_rows_ = static_cast<int>(n->operands[1]->type.shape[0]);
  }
  RET_CHECK(embedding_rows_ > 0, "decode graph has no embedding");
  return absl::OkStatus();
}

absl::Status Executor::CheckTokens(absl::Span<const int32_t> tokens) const {
  for (int32_t t : tokens) {
    if (t < 0 || t >= embedding_rows_) {
      return absl::InvalidArgumentError(
          absl::StrCat("token id ", t, " is outside the vocabulary of ", embedding_rows_));
    }
  }
  return absl::OkStatus();
}

std::vector<int32_t> PositionRecord(int pos, absl::Span<const int32_t> block_table) {
  std::vector<int32_t> record = {pos};
  record.insert(record.end(), block_table.begin(), block_table.end());
  return record;
}

absl::Status Executor::CheckSequence(int pos, int count, absl::Span<const int32_t> block_table) const {
  if (pos < 0 || static_cast<int64_t>(pos) + count > ctx_size_) {
    return absl::OutOfRangeError(absl::StrCat("positions ", pos, "..", static_cast<int64_t>(pos) + count - 1,
                                              " do not fit the context of ", ctx_size_, " tokens"));
  }
  if (block_table.size() < static_cast<size_t>(KvPages(static_cast<int64_t>(pos) + count)) ||
      block_table.size() > static_cast<size_t>(max_sequence_pages_)) {
    return absl::InvalidArgumentError(absl::StrCat("a block table of ", block_table.size(), " pages for positions up to ",
                                                   pos + count - 1, " (at most ", max_sequence_pages_, " pages)"));
  }
  for (int32_t page : block_table) {
    if (page < 0 || page >= kv_pool_pages_) {
      return absl::InvalidArgumentError(
          absl::StrCat("block table names page ", page, " of a KV pool of ", kv_pool_pages_));
    }
  }
  return absl::OkStatus();
}

absl::Status Executor::AddRecord(int pos, int count, absl::Span<const int32_t> block_table,
                                 absl::flat_hash_set<int64_t>* slots, int32_t* record) const {
  RETURN_IF_ERROR(CheckSequence(pos, count, block_table));
  for (int i = 0; i < count; ++i) {
    if (!slots->insert(KvSlot(block_table.data(), pos + i)).second) {
      return absl::InvalidArgumentError("it writes the KV slot of another sequence");
    }
  }
  record[0] = pos;
  std::copy(block_table.begin(), block_table.end(), record + 1);
  return absl::OkStatus();
}

absl::Status Executor::BuildBatchInputs(absl::Span<const SequenceStep> rows, std::vector<int32_t>* pos,
                                        std::vector<int32_t>* tokens) const {
  if (rows.empty() || rows.size() > static_cast<size_t>(kMaxBatch)) {
    return absl::InvalidArgumentError(absl::StrCat("a decode step of ", rows.size(), " sequences (1..", kMaxBatch,
                                                   ")"));
  }
  const int bucket = BatchBucket(static_cast<int>(rows.size()));
  const int stride = 1 + max_sequence_pages_;
  // -1 past each table (and in the padding rows' records): a page no sequence has.
  pos->assign(static_cast<size_t>(bucket) * stride, -1);
  tokens->assign(bucket, 0);
  absl::flat_hash_set<int64_t> slots;
  for (size_t r = 0; r < rows.size(); ++r) {
    const SequenceStep& row = rows[r];
    absl::Status s = AddRecord(row.pos, 1, row.block_table, &slots, pos->data() + r * stride);
    if (s.ok()) s = CheckTokens(absl::MakeConstSpan(&row.token, 1));
    if (!s.ok()) return absl::Status(s.code(), absl::StrCat("row ", r, ": ", s.message()));
    (*tokens)[r] = row.token;
  }
  return absl::OkStatus();
}

absl::Status Executor::BuildPrefillInputs(absl::Span<const PrefillChunk> chunks, int seq_len,
                                          std::vector<int32_t>* pos, std::vector<int32_t>* tokens,
                                          std::vector<int32_t>* last) const {
  if (chunks.empty() || chunks.size() > static_cast<size_t>(kMaxBatch)) {
    return absl::InvalidArgumentError(absl::StrCat("a batched prefill of ", chunks.size(), " sequences (1..",
                                                   kMaxBatch, ")"));
  }
  const int64_t most_rows = std::max(ctx_size_, kMaxPrefillRows);
  if (seq_len < 2 || seq_len > ctx_size_ || static_cast<int64_t>(seq_len) * chunks.size() > most_rows) {
    return absl::InvalidArgumentError(absl::StrCat("a batched prefill of ", chunks.size(), " x ", seq_len,
                                                   " rows (2..", ctx_size_, " rows per sequence, at most ",
                                                   most_rows, " in all)"));
  }
  const int stride = 1 + max_sequence_pages_;
  pos->assign(chunks.size() * stride, -1);
  tokens->assign(chunks.size() * seq_len, 0);
  last->assign(chunks.size(), 0);
  absl::flat_hash_set<int64_t> slots;
  for (size_t b = 0; b < chunks.size(); ++b) {
    const PrefillChunk& c = chunks[b];
    auto fail = [&](const absl::Status& s) {
      return absl::Status(s.code(), absl::StrCat("sequence ", b, " of a batched prefill: ", s.message()));
    };
    if (c.tokens.size() < 2 || c.tokens.size() > static_cast<size_t>(seq_len)) {
      return fail(absl::InvalidArgumentError(
          absl::StrCat(c.tokens.size(), " tokens in a run of ", seq_len, " rows (one token is a decode step)")));
    }
    // The padding rows' positions too: they write there.
    if (absl::Status s = AddRecord(c.pos, seq_len, c.block_table, &slots, pos->data() + b * stride); !s.ok()) {
      return fail(s);
    }
    if (absl::Status s = CheckTokens(c.tokens); !s.ok()) return fail(s);
    std::copy(c.tokens.begin(), c.tokens.end(), tokens->begin() + b * seq_len);
    (*last)[b] = static_cast<int32_t>(c.tokens.size()) - 1;
  }
  return absl::OkStatus();
}

}  // namespace ggrt
