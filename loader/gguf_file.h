// GGUF v2/v3 reader: memory-maps the file, parses the header, metadata and tensor table, and checks every
// count, length and offset against the file's size before it is used.
#ifndef GGRT_LOADER_GGUF_FILE_H_
#define GGRT_LOADER_GGUF_FILE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loader/dtype.h"

namespace ggrt {

// Metadata value types, numbered as in the GGUF specification.
enum class GgufType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};
absl::string_view GgufTypeName(GgufType t);

struct GgufValue;

// An array value. Numbers and bools keep the file's little-endian bytes (1 to 8 per element), so an array
// costs about what it costs in the file rather than a GgufValue per element: a hostile file cannot turn a
// 100 MB u8 array into gigabytes.
class GgufArray {
 public:
  explicit GgufArray(GgufType element_type = GgufType::kU8) : element_type_(element_type) {}
  GgufArray(GgufType element_type, const std::vector<GgufValue>& items);

  GgufType element_type() const { return element_type_; }
  size_t size() const { return size_; }
  // Element i as a value (numbers widened as in GgufValue).
  GgufValue at(size_t i) const;
  // Typed views; the element type must match (programmer error otherwise).
  const std::string& string_at(size_t i) const { return strings_[i]; }
  const GgufArray& array_at(size_t i) const { return arrays_[i]; }

  // Appends one element; its type must be the element type (programmer error otherwise).
  void Append(const GgufValue& v);
  // Appends numeric or bool elements given as a file stores them (size() grows by bytes / element size).
  void AppendRaw(absl::string_view bytes);

 private:
  GgufType element_type_;
  size_t size_ = 0;
  std::string numbers_;  // Numeric and bool elements, as stored in the file.
  std::vector<std::string> strings_;
  std::vector<GgufArray> arrays_;
};

struct GgufValue {
  GgufType type;
  std::variant<uint64_t, int64_t, double, bool, std::string, GgufArray> data;
};

// Bytes of one numeric or bool element in a file; 0 for strings and arrays.
int GgufScalarBytes(GgufType t);

struct GgufTensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> dims;  // GGUF order: dims[0] is the fastest-varying (row length).
  uint64_t offset = 0;        // Relative to the data section.
  int64_t bytes = 0;
  const uint8_t* data = nullptr;

  int64_t elements() const;
};

class GgufFile {
 public:
  // Opens and validates `path`; every error message names the file.
  static absl::StatusOr<std::unique_ptr<GgufFile>> Open(const std::string& path);
  // Parses an in-memory image (tests, fuzzing). `bytes` must outlive the GgufFile.
  static absl::StatusOr<std::unique_ptr<GgufFile>> Parse(absl::string_view bytes, std::string name);

  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_size() const { return size_; }

  // Metadata in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }

  bool Has(absl::string_view key) const;
  const GgufValue* Find(absl::string_view key) const;
  const GgufTensorInfo* FindTensor(absl::string_view name) const;
  absl::StatusOr<const GgufTensorInfo*> GetTensor(absl::string_view name) const;

  // Registers `name` as rows [first_row, first_row + rows) of the 2-D tensor `source`, sharing its bytes: how
  // a fused matrix (Phi-3's attn_qkv) is split into the projections the lowering names. Views are found by
  // FindTensor but not listed in tensors().
  absl::Status AddRowView(std::string name, absl::string_view source, int64_t first_row, int64_t rows);

  // Strict typed accessors: a missing key or a value of another type is an error naming the key and both
  // types.
  absl::StatusOr<uint32_t> GetU32(absl::string_view key) const;
  absl::StatusOr<uint64_t> GetU64(absl::string_view key) const;
  absl::StatusOr<int32_t> GetI32(absl::string_view key) const;
  absl::StatusOr<float> GetF32(absl::string_view key) const;
  absl::StatusOr<bool> GetBool(absl::string_view key) const;
  absl::StatusOr<std::string> GetString(absl::string_view key) const;
  absl::StatusOr<const GgufArray*> GetArray(absl::string_view key) const;

  // Lenient accessors for values that writers store with varying widths: any integer type (range-checked),
  // any float type.
  absl::StatusOr<int64_t> GetInteger(absl::string_view key) const;
  absl::StatusOr<double> GetFloat(absl::string_view key) const;
  // Array of strings, e.g. tokenizer.ggml.tokens.
  absl::StatusOr<std::vector<std::string>> GetStringArray(absl::string_view key) const;

 private:
  GgufFile() = default;
  absl::Status ParseAll();
  absl::StatusOr<const GgufValue*> Require(absl::string_view key, GgufType type) const;

  std::string path_;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  void* mapping_ = nullptr;  // Non-null when the file is mmapped and must be unmapped.
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::map<std::string, size_t, std::less<>> metadata_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
  std::map<std::string, GgufTensorInfo, std::less<>> views_;
};

// Human-readable rendering of a value; arrays longer than `max_items` are abbreviated.
std::string GgufValueToString(const GgufValue& v, int max_items = 8);

}  // namespace ggrt

#endif  // GGRT_LOADER_GGUF_FILE_H_
