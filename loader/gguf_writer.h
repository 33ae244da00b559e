// GGUF v3 writer: used by tests (hand-built and corrupted files) and by the bench tool (random-weight models
// of real shapes).
#ifndef GGRT_LOADER_GGUF_WRITER_H_
#define GGRT_LOADER_GGUF_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "loader/dtype.h"
#include "loader/gguf_file.h"

namespace ggrt {

class GgufWriter {
 public:
  explicit GgufWriter(uint32_t alignment = 32) : alignment_(alignment) {}

  void SetU32(absl::string_view key, uint32_t v) { Set(key, {GgufType::kU32, uint64_t{v}}); }
  void SetI32(absl::string_view key, int32_t v) { Set(key, {GgufType::kI32, int64_t{v}}); }
  void SetU64(absl::string_view key, uint64_t v) { Set(key, {GgufType::kU64, v}); }
  void SetF32(absl::string_view key, float v) { Set(key, {GgufType::kF32, double{v}}); }
  void SetBool(absl::string_view key, bool v) { Set(key, {GgufType::kBool, v}); }
  void SetString(absl::string_view key, absl::string_view v) {
    Set(key, {GgufType::kString, std::string(v)});
  }
  void SetStringArray(absl::string_view key, const std::vector<std::string>& v);
  void SetF32Array(absl::string_view key, const std::vector<float>& v);
  void SetI32Array(absl::string_view key, const std::vector<int32_t>& v);
  // Any value, e.g. copied from another file's metadata.
  void Set(absl::string_view key, GgufValue value);

  // `dims` in GGUF order (dims[0] fastest); `data` must hold exactly the tensor's bytes.
  absl::Status AddTensor(absl::string_view name, DType dtype, std::vector<int64_t> dims, std::string data);

  std::string Serialize() const;
  absl::Status WriteFile(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    DType dtype;
    std::vector<int64_t> dims;
    std::string data;
  };
  uint32_t alignment_;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<Tensor> tensors_;
};

}  // namespace ggrt

#endif  // GGRT_LOADER_GGUF_WRITER_H_
