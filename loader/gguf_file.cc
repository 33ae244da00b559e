#include "loader/gguf_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/check.h"
#include "base/file.h"
#include "base/quote.h"
#include "base/status_macros.h"

namespace ggrt {
namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" little-endian.
constexpr uint32_t kMaxDims = 4;
// Arrays nest (an array of arrays...); more than this is not a real file.
constexpr int kMaxNesting = 8;

// Bounds-checked little-endian reader over the mapped file.
class Reader {
 public:
  Reader(const uint8_t* base, uint64_t size, const std::string& path)
      : base_(base), size_(size), path_(path) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(Quote(path_), ": ", what, " (at byte ", pos_, ")"));
  }

  template <typename T>
  absl::StatusOr<T> Read(absl::string_view what) {
    if (remaining() < sizeof(T)) {
      return Error(absl::StrCat("truncated file while reading ", what));
    }
    T v;
    std::memcpy(&v, base_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  absl::StatusOr<absl::string_view> ReadBytes(uint64_t n, absl::string_view what) {
    if (n > remaining()) return Error(absl::StrCat("truncated file while reading ", what));
    absl::string_view out(reinterpret_cast<const char*>(base_ + pos_), n);
    pos_ += n;
    return out;
  }

  absl::StatusOr<std::string> ReadString(absl::string_view what) {
    ASSIGN_OR_RETURN(const uint64_t len, Read<uint64_t>(what));
    if (len > remaining()) {
      return Error(absl::StrCat("string length ", len, " of ", what, " runs past the end of the file"));
    }
    std::string s(reinterpret_cast<const char*>(base_ + pos_), len);
    pos_ += len;
    return s;
  }

 private:
  const uint8_t* base_;
  uint64_t size_;
  const std::string& path_;
  uint64_t pos_ = 0;
};

absl::StatusOr<GgufType> ReadType(Reader& r, absl::string_view what) {
  ASSIGN_OR_RETURN(const uint32_t t, r.Read<uint32_t>(what));
  if (t > static_cast<uint32_t>(GgufType::kF64)) {
    return r.Error(absl::StrCat("unknown metadata value type ", t, " for ", what));
  }
  return static_cast<GgufType>(t);
}

// Smallest encoding of one element of `t`, used to reject array counts the file cannot hold.
uint64_t MinBytes(GgufType t) {
  if (t == GgufType::kString) return 8;
  if (t == GgufType::kArray) return 12;
  return GgufScalarBytes(t);
}

absl::StatusOr<GgufValue> ReadValue(Reader& r, GgufType type, absl::string_view key, int depth) {
  GgufValue v{type, uint64_t{0}};
  switch (type) {
    case GgufType::kU8: { ASSIGN_OR_RETURN(const uint8_t x, r.Read<uint8_t>(key)); v.data = uint64_t{x}; break; }
    case GgufType::kI8: { ASSIGN_OR_RETURN(const int8_t x, r.Read<int8_t>(key)); v.data = int64_t{x}; break; }
    case GgufType::kU16: { ASSIGN_OR_RETURN(const uint16_t x, r.Read<uint16_t>(key)); v.data = uint64_t{x}; break; }
    case GgufType::kI16: { ASSIGN_OR_RETURN(const int16_t x, r.Read<int16_t>(key)); v.data = int64_t{x}; break; }
    case GgufType::kU32: { ASSIGN_OR_RETURN(const uint32_t x, r.Read<uint32_t>(key)); v.data = uint64_t{x}; break; }
    case GgufType::kI32: { ASSIGN_OR_RETURN(const int32_t x, r.Read<int32_t>(key)); v.data = int64_t{x}; break; }
    case GgufType::kU64: { ASSIGN_OR_RETURN(const uint64_t x, r.Read<uint64_t>(key)); v.data = x; break; }
    case GgufType::kI64: { ASSIGN_OR_RETURN(const int64_t x, r.Read<int64_t>(key)); v.data = x; break; }
    case GgufType::kF32: { ASSIGN_OR_RETURN(const float x, r.Read<float>(key)); v.data = double{x}; break; }
    case GgufType::kF64: { ASSIGN_OR_RETURN(const double x, r.Read<double>(key)); v.data = x; break; }
    case GgufType::kBool: {
      ASSIGN_OR_RETURN(const uint8_t x, r.Read<uint8_t>(key));
      if (x > 1) return r.Error(absl::StrCat("bool value ", int{x}, " of key ", Quote(key), " is not 0 or 1"));
      v.data = x == 1;
      break;
    }
    case GgufType::kString: { ASSIGN_OR_RETURN(v.data, r.ReadString(key)); break; }
    case GgufType::kArray: {
      if (depth >= kMaxNesting) return r.Error(absl::StrCat("arrays nested too deeply in key ", Quote(key)));
      ASSIGN_OR_RETURN(const GgufType element_type, ReadType(r, key));
      GgufArray arr(element_type);
      ASSIGN_OR_RETURN(const uint64_t count, r.Read<uint64_t>(key));
      if (count > r.remaining() / MinBytes(element_type)) {
        return r.Error(absl::StrCat("array of ", count, " elements in key ", Quote(key),
                                    " is larger than the rest of the file"));
      }
      if (const int bytes = GgufScalarBytes(element_type); bytes > 0) {
        ASSIGN_OR_RETURN(const absl::string_view raw, r.ReadBytes(count * bytes, key));
        if (element_type == GgufType::kBool) {
          for (size_t i = 0; i < raw.size(); ++i) {
            if (static_cast<uint8_t>(raw[i]) > 1) {
              return r.Error(absl::StrCat("bool element ", i, " of key ", Quote(key), " is not 0 or 1"));
            }
          }
        }
        arr.AppendRaw(raw);
      } else {
        for (uint64_t i = 0; i < count; ++i) {
          ASSIGN_OR_RETURN(GgufValue item, ReadValue(r, element_type, key, depth + 1));
          arr.Append(item);
        }
      }
      v.data = std::move(arr);
      break;
    }
  }
  return v;
}

}  // namespace

absl::string_view GgufTypeName(GgufType t) {
  switch (t) {
    case GgufType::kU8: return "u8";
    case GgufType::kI8: return "i8";
    case GgufType::kU16: return "u16";
    case GgufType::kI16: return "i16";
    case GgufType::kU32: return "u32";
    case GgufType::kI32: return "i32";
    case GgufType::kF32: return "f32";
    case GgufType::kBool: return "bool";
    case GgufType::kString: return "string";
    case GgufType::kArray: return "array";
    case GgufType::kU64: return "u64";
    case GgufType::kI64: return "i64";
    case GgufType::kF64: return "f64";
  }
  return "?";
}

int GgufScalarBytes(GgufType t) {
  switch (t) {
    case GgufType::kU8: case GgufType::kI8: case GgufType::kBool: return 1;
    case GgufType::kU16: case GgufType::kI16: return 2;
    case GgufType::kU32: case GgufType::kI32: case GgufType::kF32: return 4;
    case GgufType::kU64: case GgufType::kI64: case GgufType::kF64: return 8;
    case GgufType::kString: case GgufType::kArray: return 0;
  }
  return 0;
}

GgufArray::GgufArray(GgufType element_type, const std::vector<GgufValue>& items) : element_type_(element_type) {
  for (const GgufValue& v : items) Append(v);
}

void GgufArray::Append(const GgufValue& v) {
  GGRT_CHECK(v.type == element_type_, "array of ", GgufTypeName(element_type_), " given a ",
             GgufTypeName(v.type));
  ++size_;
  if (const std::string* s = std::get_if<std::string>(&v.data)) {
    strings_.push_back(*s);
    return;
  }
  if (const GgufArray* a = std::get_if<GgufArray>(&v.data)) {
    arrays_.push_back(*a);
    return;
  }
  uint8_t bytes[8];
  const int n = GgufScalarBytes(element_type_);
  if (const uint64_t* u = std::get_if<uint64_t>(&v.data)) std::memcpy(bytes, u, 8);
  if (const int64_t* i = std::get_if<int64_t>(&v.data)) std::memcpy(bytes, i, 8);
  if (const bool* b = std::get_if<bool>(&v.data)) bytes[0] = *b ? 1 : 0;
  if (const double* d = std::get_if<double>(&v.data)) {
    if (n == 4) {
      const float f = static_cast<float>(*d);
      std::memcpy(bytes, &f, 4);
    } else {
      std::memcpy(bytes, d, 8);
    }
  }
  numbers_.append(reinterpret_cast<const char*>(bytes), n);  // Little-endian: the low bytes come first.
}

void GgufArray::AppendRaw(absl::string_view bytes) {
  const int n = GgufScalarBytes(element_type_);
  GGRT_CHECK(n > 0 && bytes.size() % n == 0, "raw bytes for an array of ", GgufTypeName(element_type_));
  numbers_.append(bytes.data(), bytes.size());
  size_ += bytes.size() / n;
}

GgufValue GgufArray::at(size_t i) const {
  GGRT_CHECK(i < size_, "index ", i, " of an array of ", size_);
  switch (element_type_) {
    case GgufType::kString: return {element_type_, strings_[i]};
    case GgufType::kArray: return {element_type_, arrays_[i]};
    default: break;
  }
  const int n = GgufScalarBytes(element_type_);
  const char* p = numbers_.data() + i * n;
  auto load = [p]<typename T>(T) {
    T x;
    std::memcpy(&x, p, sizeof(T));
    return x;
  };
  switch (element_type_) {
    case GgufType::kU8: return {element_type_, uint64_t{load(uint8_t{})}};
    case GgufType::kI8: return {element_type_, int64_t{load(int8_t{})}};
    case GgufType::kU16: return {element_type_, uint64_t{load(uint16_t{})}};
    case GgufType::kI16: return {element_type_, int64_t{load(int16_t{})}};
    case GgufType::kU32: return {element_type_, uint64_t{load(uint32_t{})}};
    case GgufType::kI32: return {element_type_, int64_t{load(int32_t{})}};
    case GgufType::kU64: return {element_type_, load(uint64_t{})};
    case GgufType::kI64: return {element_type_, load(int64_t{})};
    case GgufType::kF32: return {element_type_, double{load(float{})}};
    case GgufType::kF64: return {element_type_, load(double{})};
    case GgufType::kBool: return {element_type_, load(uint8_t{}) != 0};
    default: break;
  }
  return {element_type_, uint64_t{0}};
}

int64_t GgufTensorInfo::elements() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path) {
  ASSIGN_OR_RETURN(RegularFile f, RegularFile::Open(path, "GGUF file"));
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->path_ = path;
  file->size_ = f.size();
  if (file->size_ > 0) {
    void* m = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, f.fd(), 0);
    if (m == MAP_FAILED) {
      const int err = errno;
      return absl::InternalError(absl::StrCat("cannot mmap ", Quote(path), ": ", std::strerror(err)));
    }
    file->mapping_ = m;
    file->base_ = static_cast<const uint8_t*>(m);
  }
  RETURN_IF_ERROR(file->ParseAll());
  return file;
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::Parse(absl::string_view bytes, std::string name) {
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->path_ = std::move(name);
  file->base_ = reinterpret_cast<const uint8_t*>(bytes.data());
  file->size_ = bytes.size();
  RETURN_IF_ERROR(file->ParseAll());
  return file;
}

GgufFile::~GgufFile() {
  if (mapping_ != nullptr) ::munmap(mapping_, size_);
}

absl::Status GgufFile::ParseAll() {
  Reader r(base_, size_, path_);
  ASSIGN_OR_RETURN(const uint32_t magic, r.Read<uint32_t>("magic"));
  if (magic != kGgufMagic) return r.Error("not a GGUF file (bad magic)");
  ASSIGN_OR_RETURN(version_, r.Read<uint32_t>("version"));
  if (version_ != 2 && version_ != 3) {
    return r.Error(absl::StrCat("unsupported GGUF version ", version_, " (supported: 2, 3)"));
  }
  ASSIGN_OR_RETURN(const uint64_t tensor_count, r.Read<uint64_t>("tensor count"));
  ASSIGN_OR_RETURN(const uint64_t kv_count, r.Read<uint64_t>("metadata count"));
  // Each key-value pair takes at least 12 bytes, each tensor info at least 24.
  if (kv_count > r.remaining() / 12) {
    return r.Error(absl::StrCat("metadata count ", kv_count, " is larger than the file can hold"));
  }
  if (tensor_count > r.remaining() / 24) {
    return r.Error(absl::StrCat("tensor count ", tensor_count, " is larger than the file can hold"));
  }

  for (uint64_t i = 0; i < kv_count; ++i) {
    ASSIGN_OR_RETURN(std::string key, r.ReadString("metadata key"));
    ASSIGN_OR_RETURN(const GgufType type, ReadType(r, absl::StrCat("key ", Quote(key))));
    ASSIGN_OR_RETURN(GgufValue value, ReadValue(r, type, key, 0));
    if (metadata_index_.count(key) != 0) return r.Error(absl::StrCat("duplicate metadata key ", Quote(key)));
    metadata_index_[key] = metadata_.size();
    metadata_.emplace_back(std::move(key), std::move(value));
  }

  if (const GgufValue* a = Find("general.alignment"); a != nullptr) {
    const uint64_t* align = std::get_if<uint64_t>(&a->data);
    if (align == nullptr || *align == 0 || (*align & (*align - 1)) != 0 || *align > (1u << 20)) {
      return r.Error(absl::StrCat("general.alignment must be an unsigned power of two, got ",
                                  GgufValueToString(*a)));
    }
    alignment_ = *align;
  }

  tensors_.reserve(tensor_count);
  for (uint64_t i = 0; i < tensor_count; ++i) {
    GgufTensorInfo t;
    ASSIGN_OR_RETURN(t.name, r.ReadString("tensor name"));
    const std::string what = absl::StrCat("tensor ", Quote(t.name));
    ASSIGN_OR_RETURN(const uint32_t n_dims, r.Read<uint32_t>(what));
    if (n_dims == 0 || n_dims > kMaxDims) {
      return r.Error(absl::StrCat(what, " has ", n_dims, " dimensions (1 to ", kMaxDims, " allowed)"));
    }
    int64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      ASSIGN_OR_RETURN(const uint64_t dim, r.Read<uint64_t>(what));
      if (dim == 0 || dim > (uint64_t{1} << 40) ||
          static_cast<uint64_t>(elements) > (uint64_t{1} << 50) / dim) {
        return r.Error(absl::StrCat(what, " has invalid or overflowing dimension ", dim));
      }
      elements *= static_cast<int64_t>(dim);
      t.dims.push_back(static_cast<int64_t>(dim));
    }
    ASSIGN_OR_RETURN(const uint32_t type_id, r.Read<uint32_t>(what));
    auto dtype = DTypeFromId(type_id);
    if (!dtype.ok()) return r.Error(absl::StrCat(what, ": ", dtype.status().message()));
    t.dtype = *dtype;
    if (t.dims[0] % BlockElements(t.dtype) != 0) {
      return r.Error(absl::StrCat(what, " row of ", t.dims[0], " elements is not a whole number of ",
                                  DTypeName(t.dtype), " blocks"));
    }
    t.bytes = elements / BlockElements(t.dtype) * BlockBytes(t.dtype);
    ASSIGN_OR_RETURN(t.offset, r.Read<uint64_t>(what));
    if (t.offset % alignment_ != 0) {
      return r.Error(absl::StrCat(what, " data offset ", t.offset, " is not aligned to ", alignment_));
    }
    if (tensor_index_.count(t.name) != 0) return r.Error(absl::StrCat("duplicate tensor name ", Quote(t.name)));
    tensor_index_[t.name] = tensors_.size();
    tensors_.push_back(std::move(t));
  }

  data_offset_ = (r.pos() + alignment_ - 1) / alignment_ * alignment_;
  for (GgufTensorInfo& t : tensors_) {
    if (data_offset_ > size_ || t.offset > size_ - data_offset_ ||
        static_cast<uint64_t>(t.bytes) > size_ - data_offset_ - t.offset) {
      return absl::InvalidArgumentError(absl::StrCat(
          path_, ": data of tensor ", Quote(t.name), " (", t.bytes, " bytes at offset ", t.offset,
          ") runs past the end of the file (", size_, " bytes; data section at ", data_offset_, ")"));
    }
    t.data = base_ + data_offset_ + t.offset;
  }
  // Two tensors sharing bytes would alias weights silently; writers never do it.
  std::vector<const GgufTensorInfo*> by_offset;
  by_offset.reserve(tensors_.size());
  for (const GgufTensorInfo& t : tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const GgufTensorInfo& prev = *by_offset[i - 1];
    const GgufTensorInfo& next = *by_offset[i];
    if (prev.offset + static_cast<uint64_t>(prev.bytes) > next.offset) {
      return absl::InvalidArgumentError(absl::StrCat(
          Quote(path_), ": data of tensor ", Quote(next.name), " (at offset ", next.offset,
          ") overlaps tensor ", Quote(prev.name), " (", prev.bytes, " bytes at offset ", prev.offset, ")"));
    }
  }
  return absl::OkStatus();
}

bool GgufFile::Has(absl::string_view key) const { return Find(key) != nullptr; }

const GgufValue* GgufFile::Find(absl::string_view key) const {
  auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

const GgufTensorInfo* GgufFile::FindTensor(absl::string_view name) const {
  auto it = tensor_index_.find(name);
  if (it != tensor_index_.end()) return &tensors_[it->second];
  auto view = views_.find(name);
  return view == views_.end() ? nullptr : &view->second;
}

absl::Status GgufFile::AddRowView(std::string name, absl::string_view source, int64_t first_row, int64_t rows) {
  ASSIGN_OR_RETURN(const GgufTensorInfo* src, GetTensor(source));
  RET_CHECK(FindTensor(name) == nullptr, path_, ": a tensor named ", Quote(name), " exists already");
  if (src->dims.size() != 2 || first_row < 0 || rows <= 0 || first_row + rows > src->dims[1]) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": tensor ", Quote(source), " of ", src->dims.size(),
                                                   " dims has no rows ", first_row, "..", first_row + rows - 1));
  }
  const int64_t row_bytes = RowBytes(src->dtype, src->dims[0]);
  GgufTensorInfo view;
  view.name = name;
  view.dtype = src->dtype;
  view.dims = {src->dims[0], rows};
  view.offset = src->offset + first_row * row_bytes;
  view.bytes = rows * row_bytes;
  view.data = src->data + first_row * row_bytes;
  views_.emplace(std::move(name), std::move(view));
  return absl::OkStatus();
}

absl::StatusOr<const GgufTensorInfo*> GgufFile::GetTensor(absl::string_view name) const {
  const GgufTensorInfo* t = FindTensor(name);
  if (t == nullptr) return absl::NotFoundError(absl::StrCat(path_, ": tensor ", Quote(name), " not found"));
  return t;
}

absl::StatusOr<const GgufValue*> GgufFile::Require(absl::string_view key, GgufType type) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return absl::NotFoundError(absl::StrCat(path_, ": metadata key ", Quote(key), " not found"));
  if (v->type != type) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": metadata key ", Quote(key), " has type ",
                                                   GgufTypeName(v->type), ", expected ",
                                                   GgufTypeName(type)));
  }
  return v;
}

absl::StatusOr<uint32_t> GgufFile::GetU32(absl::string_view key) const {
  ASSIGN_OR_RETURN(const GgufValue* v, Require(key, GgufType::kU32));
  return static_cast<uint32_t>(std::get<uint64_t>(v->data));
}
absl::StatusOr<uint64_t> GgufFile::GetU64(absl::string_view key) const {
  ASSIGN_OR_RETURN(const GgufValue* v, Require(key, GgufType::kU64));
  return std::get<uint64_t>(v->data);
}
absl::StatusOr<int32_t> GgufFile::GetI32(absl::string_view key) const {
  ASSIGN_OR_RETURN(const GgufValue* v, Require(key, GgufType::kI32));
  return static_cast<int32_t>(std::get<int64_t>(v->data));
}
absl::StatusOr<float> GgufFile::GetF32(absl::string_view key) const {
  ASSIGN_OR_RETURN(const GgufValue* v, Require(key, GgufType::kF32));
  return static_cast<float>(std::get<double>(v->data));
}
absl::StatusOr<bool> GgufFile::GetBool(absl::string_view key) const {
  ASSIGN_OR_RETURN(const GgufValue* v, Require(key, GgufType::kBool));
  return std::get<bool>(v->data);
}
absl::StatusOr<std::string> GgufFile::GetString(absl::string_view key) const {
  ASSIGN_OR_RETURN(const GgufValue* v, Require(key, GgufType::kString));
  return std::get<std::string>(v->data);
}
absl::StatusOr<const GgufArray*> GgufFile::GetArray(absl::string_view key) const {
  ASSIGN_OR_RETURN(const GgufValue* v, Require(key, GgufType::kArray));
  return &std::get<GgufArray>(v->data);
}

absl::StatusOr<int64_t> GgufFile::GetInteger(absl::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return absl::NotFoundError(absl::StrCat(path_, ": metadata key ", Quote(key), " not found"));
  if (const uint64_t* u = std::get_if<uint64_t>(&v->data)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return absl::OutOfRangeError(absl::StrCat(path_, ": metadata key ", Quote(key), " value ", *u, " is too large"));
    }
    return static_cast<int64_t>(*u);
  }
  if (const int64_t* i = std::get_if<int64_t>(&v->data)) return *i;
  return absl::InvalidArgumentError(absl::StrCat(path_, ": metadata key ", Quote(key), " has type ",
                                                 GgufTypeName(v->type), ", expected an integer"));
}

absl::StatusOr<double> GgufFile::GetFloat(absl::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return absl::NotFoundError(absl::StrCat(path_, ": metadata key ", Quote(key), " not found"));
  if (const double* d = std::get_if<double>(&v->data)) return *d;
  return absl::InvalidArgumentError(absl::StrCat(path_, ": metadata key ", Quote(key), " has type ",
                                                 GgufTypeName(v->type), ", expected f32 or f64"));
}

absl::StatusOr<std::vector<std::string>> GgufFile::GetStringArray(absl::string_view key) const {
  ASSIGN_OR_RETURN(const GgufArray* arr, GetArray(key));
  if (arr->element_type() != GgufType::kString) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": metadata key ", Quote(key), " is an array of ",
                                                   GgufTypeName(arr->element_type()), ", expected string"));
  }
  std::vector<std::string> out;
  out.reserve(arr->size());
  for (size_t i = 0; i < arr->size(); ++i) out.push_back(arr->string_at(i));
  return out;
}

std::string GgufValueToString(const GgufValue& v, int max_items) {
  struct Visitor {
    int max_items;
    std::string operator()(uint64_t x) const { return absl::StrCat(x); }
    std::string operator()(int64_t x) const { return absl::StrCat(x); }
    std::string operator()(double x) const { return absl::StrCat(x); }
    std::string operator()(bool x) const { return x ? "true" : "false"; }
    std::string operator()(const std::string& s) const {
      constexpr size_t kMaxChars = 120;
      std::string out = "\"";
      for (size_t i = 0; i < s.size() && i < kMaxChars; ++i) {
        const char c = s[i];
        if (c == '\n') out += "\\n";
        else if (c == '"') out += "\\\"";
        else out += c;
      }
      if (s.size() > kMaxChars) absl::StrAppend(&out, "...(", s.size(), " bytes)");
      return out + "\"";
    }
    std::string operator()(const GgufArray& a) const {
      std::vector<std::string> parts;
      for (size_t i = 0; i < a.size() && static_cast<int>(i) < max_items; ++i) {
        parts.push_back(std::visit(*this, a.at(i).data));
      }
      if (a.size() > static_cast<size_t>(max_items)) {
        parts.push_back(absl::StrCat("... (", a.size(), " ", GgufTypeName(a.element_type()), ")"));
      }
      return absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
    }
  };
  return std::visit(Visitor{max_items}, v.data);
}

}  // namespace ggrt
