#include "loader/gguf_corpus.h"

#include <cstring>

#include <cmath>
#include <random>

#include "absl/strings/str_format.h"
#include "base/fp16.h"
#include "loader/gguf_writer.h"
#include "loader/model_config.h"

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

namespace {

std::string RandomTensor(DType type, int64_t elements, std::mt19937& rng, float mean = 1.0f) {
  std::normal_distribution<float> normal(0.0f, 0.5f);
  std::string out;
  if (type == DType::kF32 || type == DType::kF16 || type == DType::kBF16) {
    for (int64_t i = 0; i < elements; ++i) {
      const float v = mean + normal(rng);
      if (type == DType::kF32) {
        out.append(reinterpret_cast<const char*>(&v), 4);
      } else {
        const uint16_t h = type == DType::kF16 ? FloatToFp16(v) : FloatToBf16(v);
        out.append(reinterpret_cast<const char*>(&h), 2);
      }
    }
    return out;
  }
  // Other types: small bytes; what matters is that the type is refused by name.
  out.assign(elements / BlockElements(type) * BlockBytes(type), '\0');
  for (char& c : out) c = static_cast<char>(rng() % 8);
  return out;
}

// Byte offset of the data-offset field of tensor `name` in a serialized file.
size_t TensorOffsetField(const std::string& file, const std::string& name, int n_dims) {
  const size_t at = file.find(name);
  return at + name.size() + 4 + 8 * n_dims + 4;
}

}  // namespace

std::string TinyModelGguf(const TinyModelSpec& s) {
  GgufWriter w;
  const std::string& a = s.arch;
  w.SetString("general.architecture", a);
  w.SetU32(a + ".block_count", s.layers);
  w.SetU32(a + ".embedding_length", s.embd);
  w.SetU32(a + ".attention.head_count", s.heads);
  w.SetU32(a + ".attention.head_count_kv", s.kv_heads);
  w.SetU32(a + ".feed_forward_length", s.ff);
  w.SetU32(a + ".context_length", s.ctx);
  w.SetF32(a + ".attention.layer_norm_rms_epsilon", 1e-5f);
  const int head_dim = s.head_dim > 0 ? s.head_dim : s.embd / s.heads;
  if (s.head_dim > 0) {
    w.SetU32(a + ".attention.key_length", head_dim);
    w.SetU32(a + ".attention.value_length", head_dim);
  }
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<int32_t> types = {2, 3, 3};
  for (int b = 0; b < 256 && s.byte_tokens; ++b) {
    tokens.push_back(absl::StrFormat("<0x%02X>", b));
    types.push_back(6);
  }
  for (int i = 0; static_cast<int>(tokens.size()) < s.vocab; ++i) {
    tokens.push_back(absl::StrCat("\xe2\x96\x81", std::string(1, static_cast<char>('a' + i % 26)), i / 26));
    types.push_back(1);
  }
  std::vector<float> scores(tokens.size());
  for (size_t i = 0; i < scores.size(); ++i) scores[i] = -static_cast<float>(i);
  w.SetString("tokenizer.ggml.model", "llama");
  w.SetStringArray("tokenizer.ggml.tokens", tokens);
  w.SetI32Array("tokenizer.ggml.token_type", types);
  w.SetF32Array("tokenizer.ggml.scores", scores);
  w.SetU32("tokenizer.ggml.bos_token_id", 1);
  w.SetU32("tokenizer.ggml.eos_token_id", 2);

  if (s.rope_linear_factor > 0) {
    w.SetString(a + ".rope.scaling.type", "linear");
    w.SetF32(a + ".rope.scaling.factor", s.rope_linear_factor);
  }
  if (s.sliding_window > 0) w.SetU32(a + ".attention.sliding_window", s.sliding_window);
  if (s.attn_softcap > 0) w.SetF32(a + ".attn_logit_softcapping", s.attn_softcap);
  if (s.final_softcap > 0) w.SetF32(a + ".final_logit_softcapping", s.final_softcap);

  ModelConfig c;
  c.n_layers = s.layers + s.extra_layers, c.n_embd = s.embd, c.n_heads = s.heads, c.n_kv_heads = s.kv_heads,
  c.head_dim = head_dim, c.rope_dims = head_dim, c.n_ff = s.ff, c.n_vocab = static_cast<int>(tokens.size()),
  c.qkv_bias = s.qkv_bias, c.tied_output = s.tied_output;
  c.qk_norm = a == "qwen3", c.fused_qkv = a == "phi3", c.post_norms = a == "gemma2";
  c.rope_freq_factors = s.rope_freqs;
  std::mt19937 rng(1234);
  for (const ExpectedTensor& t : ExpectedTensors(c)) {
    int64_t n = 1;
    for (int64_t d : t.dims) n *= d;
    if (t.name == "rope_freqs.weight") {
      std::vector<float> divisors(n);
      for (int64_t i = 0; i < n; ++i) divisors[i] = 1.0f + 7.0f * static_cast<float>(i) / n;
      (void)w.AddTensor(t.name, DType::kF32, t.dims,
                        std::string(reinterpret_cast<const char*>(divisors.data()), 4 * n));
      continue;
    }
    const DType type = t.matrix ? s.matrix_type : s.vector_type;
    (void)w.AddTensor(t.name, type, t.dims, RandomTensor(type, n, rng, t.matrix ? s.matrix_mean : 1.0f));
  }
  if (s.mutate) s.mutate(w);
  return w.Serialize();
}

absl::StatusOr<TinyModelSpec> TinyFamilySpec(absl::string_view family) {
  TinyModelSpec s;
  s.layers = 2, s.embd = 64, s.heads = 4, s.kv_heads = 2, s.ff = 128, s.ctx = 256, s.matrix_mean = 0.0f;
  if (family == "qwen2") {  // Head size 64, so CUDA prefill takes the flash-attention kernel.
    s.arch = "qwen2", s.embd = 128, s.heads = 2, s.kv_heads = 1, s.qkv_bias = true, s.tied_output = true;
    s.ctx = 32768;
  } else if (family == "llama3") {
    s.rope_freqs = true, s.tied_output = true;
  } else if (family == "llama-linear") {
    s.rope_linear_factor = 4.0f;
  } else if (family == "qwen3") {
    s.arch = "qwen3", s.head_dim = 32, s.tied_output = true;
  } else if (family == "phi3") {
    s.arch = "phi3", s.sliding_window = 12;
  } else if (family == "gemma2") {
    // Untied: with random weights the sqrt(E)-scaled embedding dominates the residual stream, and a tied
    // output would echo the input token.
    s.arch = "gemma2", s.head_dim = 32, s.sliding_window = 12;
    s.attn_softcap = 50.0f, s.final_softcap = 30.0f, s.layers = 3;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown tiny family '", family,
                                                   "' (qwen2, llama3, llama-linear, qwen3, phi3, gemma2)"));
  }
  return s;
}

TinyModelSpec WideKvModelSpec() {
  TinyModelSpec s;
  s.layers = 1, s.embd = 64, s.heads = 4, s.kv_heads = 4, s.head_dim = 1024, s.ff = 64;
  return s;
}

std::vector<std::string> FuzzSeeds() {
  std::vector<std::string> seeds = {ValidTestGguf()};
  for (const CorruptGguf& c : CorruptGgufCorpus()) seeds.push_back(c.bytes);
  TinyModelSpec s;
  s.layers = 1, s.embd = 8, s.heads = 2, s.kv_heads = 1, s.ff = 8, s.vocab = 12, s.byte_tokens = false;
  seeds.push_back(TinyModelGguf(s));
  s.arch = "qwen2", s.qkv_bias = true, s.tied_output = true;
  seeds.push_back(TinyModelGguf(s));
  return seeds;
}

std::vector<CorruptGguf> HostileModelCorpus() {
  std::vector<CorruptGguf> c;
  auto with = [](std::function<void(GgufWriter&)> mutate) {
    TinyModelSpec s;
    s.mutate = std::move(mutate);
    return TinyModelGguf(s);
  };
  c.push_back({"valid", TinyModelGguf(), ""});
  c.push_back({"bad_byte_token", with([](GgufWriter& w) {
                 std::vector<std::string> tokens = {"<unk>", "<s>", "</s>", "<0xZZ>"};
                 std::vector<int32_t> types = {2, 3, 3, 6};
                 for (int i = 4; i < 300; ++i) {
                   tokens.push_back("t" + std::to_string(i));
                   types.push_back(1);
                 }
                 w.SetStringArray("tokenizer.ggml.tokens", tokens);
                 w.SetI32Array("tokenizer.ggml.token_type", types);
               }),
               "tokenizer.ggml.tokens[3] = '<0xZZ>' is a byte token"});
  c.push_back({"block_count_2e29", with([](GgufWriter& w) { w.SetU32("llama.block_count", 1u << 29); }),
               "needs at least 9 tensors per layer"});
  c.push_back({"context_length_2e30", with([](GgufWriter& w) { w.SetU32("llama.context_length", 1u << 30); }),
               "context set to 32768 of the model's 1073741824 tokens"});
  c.push_back({"key_length_overflow",
               with([](GgufWriter& w) { w.SetU32("llama.attention.key_length", (1u << 29) + 8); }),
               "is larger than 1024"});
  for (const auto& [name, value] : std::vector<std::pair<std::string, float>>{
           {"eps_negative", -1e-5f}, {"eps_nan", NAN}, {"eps_zero", 0.0f}}) {
    c.push_back({name, with([v = value](GgufWriter& w) { w.SetF32("llama.attention.layer_norm_rms_epsilon", v); }),
                 "'llama.attention.layer_norm_rms_epsilon'"});
  }
  for (const auto& [name, value] : std::vector<std::pair<std::string, float>>{
           {"rope_base_zero", 0.0f}, {"rope_base_negative", -10000.0f}, {"rope_base_nan", NAN}}) {
    c.push_back({name, with([v = value](GgufWriter& w) { w.SetF32("llama.rope.freq_base", v); }),
                 "'llama.rope.freq_base'"});
  }
  {
    TinyModelSpec s;
    s.extra_layers = 1;
    c.push_back({"layer_beyond_block_count", TinyModelGguf(s), "tensor 'blk.2.attn_norm.weight' is not used"});
  }
  {
    TinyModelSpec s;
    s.vector_type = DType::kQ8_0;
    c.push_back({"q8_0_norm", TinyModelGguf(s), "has type q8_0; norm weights and biases must be f32, f16 or bf16"});
    s = {};
    s.matrix_type = DType::kI32;
    c.push_back({"i32_matrix", TinyModelGguf(s), "tensor 'token_embd.weight' has type i32"});
  }
  {
    std::string s = TinyModelGguf();
    const size_t field = TensorOffsetField(s, "output_norm.weight", 1);
    const uint64_t zero = 0;
    s.replace(field, 8, reinterpret_cast<const char*>(&zero), 8);
    c.push_back({"overlapping_tensors", s, "overlaps tensor"});
    std::string t = TinyModelGguf();
    const uint32_t iq2_xxs = 16;
    t.replace(TensorOffsetField(t, "output_norm.weight", 1) - 4, 4, reinterpret_cast<const char*>(&iq2_xxs), 4);
    c.push_back({"iq2_xxs_tensor", t, "tensor 'output_norm.weight': unsupported tensor type iq2_xxs"});
  }
  c.push_back({"newline_in_tensor_name",
               with([](GgufWriter& w) {
                 (void)w.AddTensor("blk.0.attn_q.weight\nerror: injected", DType::kF32, {4}, std::string(16, '\0'));
               }),
               "tensor 'blk.0.attn_q.weight\\nerror: injected' is not used"});
  c.push_back({"custom_chat_template",
               with([](GgufWriter& w) { w.SetString("tokenizer.chat_template", "{{ messages }}<|turn|>"); }), ""});
  c.push_back({"no_add_bos", with([](GgufWriter& w) { w.SetBool("tokenizer.ggml.add_bos_token", false); }), ""});
  c.push_back({"rope_scaling_yarn", with([](GgufWriter& w) { w.SetString("llama.rope.scaling.type", "yarn"); }),
               "'llama.rope.scaling.type' = 'yarn' is not supported"});
  {
    // 64 MB of u8 metadata: parsed at about its own size, not ~48 bytes an element.
    std::string raw(64 << 20, '\x01');
    GgufArray big(GgufType::kU8);
    big.AppendRaw(raw);
    c.push_back({"big_u8_array", with([big](GgufWriter& w) { w.Set("junk.bytes", {GgufType::kArray, big}); }), ""});
  }
  return c;
}

}  // namespace ggrt
