#include "loader/gguf_writer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace ggrt {
namespace {

template <typename T>
void Put(std::string& out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));
  out.append(buf, sizeof(T));
}

void PutString(std::string& out, absl::string_view s) {
  Put<uint64_t>(out, s.size());
  out.append(s.data(), s.size());
}

void PutValue(std::string& out, const GgufValue& v) {
  switch (v.type) {
    case GgufType::kU8: Put<uint8_t>(out, std::get<uint64_t>(v.data)); break;
    case GgufType::kI8: Put<int8_t>(out, std::get<int64_t>(v.data)); break;
    case GgufType::kU16: Put<uint16_t>(out, std::get<uint64_t>(v.data)); break;
    case GgufType::kI16: Put<int16_t>(out, std::get<int64_t>(v.data)); break;
    case GgufType::kU32: Put<uint32_t>(out, std::get<uint64_t>(v.data)); break;
    case GgufType::kI32: Put<int32_t>(out, std::get<int64_t>(v.data)); break;
    case GgufType::kU64: Put<uint64_t>(out, std::get<uint64_t>(v.data)); break;
    case GgufType::kI64: Put<int64_t>(out, std::get<int64_t>(v.data)); break;
    case GgufType::kF32: Put<float>(out, static_cast<float>(std::get<double>(v.data))); break;
    case GgufType::kF64: Put<double>(out, std::get<double>(v.data)); break;
    case GgufType::kBool: Put<uint8_t>(out, std::get<bool>(v.data) ? 1 : 0); break;
    case GgufType::kString: PutString(out, std::get<std::string>(v.data)); break;
    case GgufType::kArray: {
      const GgufArray& a = std::get<GgufArray>(v.data);
      Put<uint32_t>(out, static_cast<uint32_t>(a.element_type()));
      Put<uint64_t>(out, a.size());
      for (size_t i = 0; i < a.size(); ++i) PutValue(out, a.at(i));
      break;
    }
  }
}

}  // namespace

void GgufWriter::Set(absl::string_view key, GgufValue value) {
  for (auto& [k, v] : metadata_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  metadata_.emplace_back(std::string(key), std::move(value));
}

void GgufWriter::SetStringArray(absl::string_view key, const std::vector<std::string>& v) {
  GgufArray a(GgufType::kString);
  for (const std::string& s : v) a.Append({GgufType::kString, s});
  Set(key, {GgufType::kArray, std::move(a)});
}

void GgufWriter::SetF32Array(absl::string_view key, const std::vector<float>& v) {
  GgufArray a(GgufType::kF32);
  for (float f : v) a.Append({GgufType::kF32, double{f}});
  Set(key, {GgufType::kArray, std::move(a)});
}

void GgufWriter::SetI32Array(absl::string_view key, const std::vector<int32_t>& v) {
  GgufArray a(GgufType::kI32);
  for (int32_t i : v) a.Append({GgufType::kI32, int64_t{i}});
  Set(key, {GgufType::kArray, std::move(a)});
}

absl::Status GgufWriter::AddTensor(absl::string_view name, DType dtype, std::vector<int64_t> dims,
                                   std::string data) {
  if (dims.empty() || dims.size() > 4) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': 1 to 4 dimensions required"));
  }
  int64_t elements = 1;
  for (int64_t d : dims) elements *= d;
  if (dims[0] % BlockElements(dtype) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': row of ", dims[0],
                                                   " is not a whole number of blocks"));
  }
  const int64_t bytes = elements / BlockElements(dtype) * BlockBytes(dtype);
  if (static_cast<int64_t>(data.size()) != bytes) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': ", data.size(),
                                                   " bytes given, ", bytes, " expected"));
  }
  tensors_.push_back({std::string(name), dtype, std::move(dims), std::move(data)});
  return absl::OkStatus();
}

std::string GgufWriter::Serialize() const {
  std::string out;
  Put<uint32_t>(out, 0x46554747);
  Put<uint32_t>(out, 3);
  Put<uint64_t>(out, tensors_.size());
  const bool write_alignment = alignment_ != 32;
  Put<uint64_t>(out, metadata_.size() + (write_alignment ? 1 : 0));
  if (write_alignment) {
    PutString(out, "general.alignment");
    Put<uint32_t>(out, static_cast<uint32_t>(GgufType::kU32));
    Put<uint32_t>(out, alignment_);
  }
  for (const auto& [key, value] : metadata_) {
    PutString(out, key);
    Put<uint32_t>(out, static_cast<uint32_t>(value.type));
    PutValue(out, value);
  }
  uint64_t offset = 0;
  std::vector<uint64_t> offsets;
  for (const Tensor& t : tensors_) {
    PutString(out, t.name);
    Put<uint32_t>(out, t.dims.size());
    for (int64_t d : t.dims) Put<uint64_t>(out, d);
    Put<uint32_t>(out, static_cast<uint32_t>(t.dtype));
    Put<uint64_t>(out, offset);
    offsets.push_back(offset);
    offset = (offset + t.data.size() + alignment_ - 1) / alignment_ * alignment_;
  }
  out.resize((out.size() + alignment_ - 1) / alignment_ * alignment_, '\0');
  const size_t data_start = out.size();
  for (size_t i = 0; i < tensors_.size(); ++i) {
    out.resize(data_start + offsets[i], '\0');
    out += tensors_[i].data;
  }
  return out;
}

absl::Status GgufWriter::WriteFile(const std::string& path) const {
  const std::string bytes = Serialize();
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return absl::InternalError(absl::StrCat("cannot create '", path, "': ", std::strerror(errno)));
  const size_t written = std::fwrite(bytes.data(), 1, bytes.size(), f);
  const int write_errno = errno;
  if (std::fclose(f) != 0 || written != bytes.size()) {
    return absl::InternalError(
        absl::StrCat("cannot write '", path, "': ", std::strerror(written != bytes.size() ? write_errno : errno)));
  }
  return absl::OkStatus();
}

}  // namespace ggrt
