#include "loader/dtype.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ggrt {
namespace {

struct DTypeInfo {
  DType type;
  absl::string_view name;
  int64_t block_elements;
  int64_t block_bytes;
};

constexpr DTypeInfo kDTypes[] = {
#define GGRT_DTYPE_INFO(e, id, name, block, bytes) {DType::e, name, block, bytes},
    GGRT_DTYPE_LIST(GGRT_DTYPE_INFO)
#undef GGRT_DTYPE_INFO
};

const DTypeInfo& Info(DType t) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.type == t) return info;
  }
  // DType values only come from DTypeFromId/DTypeFromName, so this is a programmer error.
  __builtin_trap();
}

}  // namespace

absl::StatusOr<DType> DTypeFromId(uint32_t id) {
  for (const DTypeInfo& info : kDTypes) {
    if (static_cast<uint32_t>(info.type) == id) return info.type;
  }
  // ggml types ggrt does not read, named so that the error says what the file holds.
  static constexpr std::pair<uint32_t, const char*> kUnsupported[] = {
      {16, "iq2_xxs"}, {17, "iq2_xs"}, {18, "iq3_xxs"}, {19, "iq1_s"}, {20, "iq4_nl"}, {21, "iq3_s"},
      {22, "iq2_s"},   {23, "iq4_xs"}, {29, "iq1_m"},   {34, "tq1_0"}, {35, "tq2_0"}, {39, "mxfp4"}};
  for (const auto& [unsupported, name] : kUnsupported) {
    if (unsupported == id) return absl::UnimplementedError(absl::StrCat("unsupported tensor type ", name, " (id ", id, ")"));
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown tensor data type id ", id));
}

absl::StatusOr<DType> DTypeFromName(absl::string_view name) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.name == name) return info.type;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown tensor data type '", name, "'"));
}

absl::string_view DTypeName(DType t) { return Info(t).name; }
int64_t BlockElements(DType t) { return Info(t).block_elements; }
int64_t BlockBytes(DType t) { return Info(t).block_bytes; }

int64_t RowBytes(DType t, int64_t n) {
  const DTypeInfo& info = Info(t);
  return n / info.block_elements * info.block_bytes;
}

absl::StatusOr<int64_t> RowBytesChecked(DType t, int64_t n) {
  const DTypeInfo& info = Info(t);
  if (n < 0 || n % info.block_elements != 0) {
    return absl::InvalidArgumentError(absl::StrCat("row of ", n, " elements is not a whole number of ",
                                                   info.name, " blocks (", info.block_elements, ")"));
  }
  return RowBytes(t, n);
}

bool IsQuantized(DType t) { return Info(t).block_elements > 1; }

}  // namespace ggrt
