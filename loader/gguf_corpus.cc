#include "loader/gguf_corpus.h"

#include <cstring>

#include "loader/gguf_writer.h"

namespace ggrt {
namespace {

std::string Bytes(size_t n, char c) { return std::string(n, c); }

template <typename T>
void Poke(std::string& s, size_t at, T v) {
  std::memcpy(&s[at], &v, sizeof(T));
}

// Header then a single key "k" with a u32 value: offsets of the fields are fixed.
std::string OneKeyFile() {
  GgufWriter w;
  w.SetU32("k", 7);
  return w.Serialize();
}

}  // namespace

std::string ValidTestGguf() {
  GgufWriter w;
  w.SetString("general.architecture", "llama");
  w.SetU32("test.u32", 42);
  w.SetI32("test.i32", -5);
  w.SetU64("test.u64", 1ull << 40);
  w.SetF32("test.f32", 0.5f);
  w.SetBool("test.bool", true);
  w.Set("test.u8", {GgufType::kU8, uint64_t{200}});
  w.Set("test.i16", {GgufType::kI16, int64_t{-300}});
  w.Set("test.f64", {GgufType::kF64, 2.25});
  w.SetStringArray("test.strings", {"a", "bc", ""});
  GgufArray inner1{GgufType::kI32, {{GgufType::kI32, int64_t{1}}, {GgufType::kI32, int64_t{2}}}};
  GgufArray inner2{GgufType::kI32, {{GgufType::kI32, int64_t{3}}}};
  w.Set("test.nested", {GgufType::kArray,
                        GgufArray{GgufType::kArray, {{GgufType::kArray, inner1}, {GgufType::kArray, inner2}}}});
  std::string f32(4 * 6, '\0');
  for (int i = 0; i < 6; ++i) {
    const float v = i * 1.5f;
    std::memcpy(&f32[4 * i], &v, 4);
  }
  (void)w.AddTensor("t.f32", DType::kF32, {3, 2}, f32);
  (void)w.AddTensor("t.q8", DType::kQ8_0, {64}, Bytes(68, '\x01'));
  return w.Serialize();
}

std::vector<CorruptGguf> CorruptGgufCorpus() {
  std::vector<CorruptGguf> c;
  const std::string valid = ValidTestGguf();
  const std::string one = OneKeyFile();
  // Header layout: magic@0 version@4 tensor_count@8 kv_count@16, first key length@24, key@32, type@33.
  c.push_back({"empty", "", "truncated file while reading magic"});
  c.push_back({"bad_magic", "GGML" + valid.substr(4), "bad magic"});
  {
    std::string s = valid;
    Poke<uint32_t>(s, 4, 1);
    c.push_back({"version_1", s, "unsupported GGUF version 1"});
    Poke<uint32_t>(s, 4, 99);
    c.push_back({"version_99", s, "unsupported GGUF version 99"});
  }
  c.push_back({"truncated_in_key", one.substr(0, 36), "truncated file while reading key 'k'"});
  c.push_back({"truncated_header", valid.substr(0, 12), "truncated file while reading tensor count"});
  const std::pair<size_t, const char*> cuts[] = {{100, "metadata count"},
                                                  {300, "larger than the rest of the file"},
                                                  {500, "runs past the end of the file"}};
  for (const auto& [cut, error] : cuts) {
    c.push_back({"truncated_at_" + std::to_string(cut), valid.substr(0, cut), error});
  }
  c.push_back({"truncated_data", valid.substr(0, valid.size() - 10), "runs past the end of the file"});
  {
    std::string s = valid;
    Poke<uint64_t>(s, 16, 1ull << 60);
    c.push_back({"huge_kv_count", s, "metadata count"});
    s = valid;
    Poke<uint64_t>(s, 8, ~0ull);
    c.push_back({"huge_tensor_count", s, "tensor count"});
  }
  {
    std::string s = one;
    Poke<uint64_t>(s, 24, 1ull << 62);
    c.push_back({"huge_key_length", s, "string length"});
    s = one;
    Poke<uint32_t>(s, 33, 77);
    c.push_back({"unknown_value_type", s, "unknown metadata value type 77"});
  }
  {
    GgufWriter w;
    w.SetStringArray("arr", {"x"});
    std::string s = w.Serialize();
    // key "arr" @32..35, type@35, element type@39, count@43.
    Poke<uint64_t>(s, 43, 1ull << 61);
    c.push_back({"huge_array_count", s, "array of"});
  }
  {
    GgufWriter w;
    w.Set("b", {GgufType::kBool, true});
    std::string s = w.Serialize();
    s[37] = 5;  // key "b" @32, type@33, value@37.
    c.push_back({"bad_bool", s, "is not 0 or 1"});
  }
  {
    // The same key-value entry twice.
    // Header (24 bytes) then the entry: key length (8), "k", type (4), value (4).
    std::string s = one.substr(0, 41);
    const std::string entry = one.substr(24, 17);
    Poke<uint64_t>(s, 16, 2);
    c.push_back({"duplicate_key", s + entry, "duplicate metadata key 'k'"});
  }
  {
    GgufWriter w;
    w.SetU32("general.alignment", 24);
    c.push_back({"alignment_not_power_of_two", w.Serialize(), "general.alignment"});
  }
  {
    // Tensor table entries: locate via the tensor name string in the valid image.
    const size_t name_at = valid.find(std::string("\x05\0\0\0\0\0\0\0t.f32", 13)) + 8;
    const size_t ndims_at = name_at + 5;
    const size_t dim0_at = ndims_at + 4;
    const size_t type_at = dim0_at + 16;
    const size_t offset_at = type_at + 4;
    std::string s = valid;
    Poke<uint32_t>(s, ndims_at, 9);
    c.push_back({"too_many_dims", s, "has 9 dimensions"});
    s = valid;
    Poke<uint64_t>(s, dim0_at, 0);
    c.push_back({"zero_dim", s, "invalid or overflowing dimension"});
    s = valid;
    Poke<uint64_t>(s, dim0_at, 1ull << 39);
    Poke<uint64_t>(s, dim0_at + 8, 1ull << 39);
    c.push_back({"overflowing_dims", s, "overflowing dimension"});
    s = valid;
    Poke<uint32_t>(s, type_at, 4);
    c.push_back({"unknown_dtype", s, "unknown tensor data type id 4"});
    s = valid;
    Poke<uint32_t>(s, type_at, 2);  // Q4_0 with a row of 3 elements.
    c.push_back({"partial_block", s, "whole number of q4_0 blocks"});
    s = valid;
    Poke<uint64_t>(s, offset_at, 8);
    c.push_back({"misaligned_offset", s, "is not aligned to 32"});
    s = valid;
    Poke<uint64_t>(s, offset_at, 1ull << 50);
    c.push_back({"offset_past_end", s, "runs past the end of the file"});
    s = valid;
    Poke<uint64_t>(s, offset_at, ~0ull & ~31ull);
    c.push_back({"offset_overflow", s, "runs past the end of the file"});
    // t.q8 (one dim) moved onto t.f32's bytes.
    const size_t q8_offset_at = valid.find(std::string("\x04\0\0\0\0\0\0\0t.q8", 12)) + 12 + 4 + 8 + 4;
    s = valid;
    Poke<uint64_t>(s, q8_offset_at, 0);
    c.push_back({"overlapping_tensors", s, "overlaps tensor 't.f32'"});
  }
  {
    GgufWriter w;  // The writer does not police names, so it can build this one directly.
    (void)w.AddTensor("same", DType::kF32, {1}, Bytes(4, '\0'));
    (void)w.AddTensor("same", DType::kF32, {1}, Bytes(4, '\0'));
    c.push_back({"duplicate_tensor", w.Serialize(), "duplicate tensor name 'same'"});
  }
  return c;
}

}  // namespace ggrt
