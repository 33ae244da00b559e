// Decode GEMV kernels against the CPU reference, per dtype and shape (odd sizes included).
#include "ops/cuda/gemv.h"

#include <random>

#include "ops/cpu/elementwise.h"
#include "ops/cpu/matmul.h"
#include "ops/cpu/rms_norm.h"
#include "ops/cpu/test_util.h"
#include "ops/cuda/test_util.h"

namespace ggrt::cuda {
namespace {

// f32 accumulation in a different order than the double reference.
constexpr double kMaxRelError = 2e-5;

struct Shape {
  int k, n;
};
// Includes k = 12800: too long to stage x in shared memory, so the norm prologue takes the scalar path.
const Shape kShapes[] = {{64, 172}, {172, 64}, {896, 1152}, {896, 4864}, {4864, 896}, {1536, 257}, {12800, 40}};
const WeightType kTypes[] = {WeightType::kF32, WeightType::kF16, WeightType::kBF16};

TEST(GemvTest, MultiOutputMatchesReference) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(11);
  for (WeightType type : kTypes) {
    for (const Shape& s : kShapes) {
      const auto x = cpu::RandomVector(s.k, rng);
      const int ns[3] = {s.n, s.n / 4 + 1, 7};
      GemvParams p{nullptr, s.k, type, 3, {}, {}, {ns[0], ns[1], ns[2]}};
      DeviceBuffer dx(x);
      std::vector<std::unique_ptr<DeviceBuffer>> dw, dy;
      std::vector<std::vector<float>> refs;
      for (int i = 0; i < 3; ++i) {
        const TypedWeights w = MakeWeights(cpu::RandomVector(static_cast<size_t>(ns[i]) * s.k, rng), type);
        dw.push_back(std::make_unique<DeviceBuffer>(w));
        dy.push_back(std::make_unique<DeviceBuffer>(ns[i] * sizeof(float)));
        p.w[i] = dw[i]->get();
        p.y[i] = dy[i]->as<float>();
        refs.emplace_back(ns[i]);
        cpu::Matmul(x.data(), w.values.data(), 1, s.k, ns[i], refs[i].data());
      }
      p.x = dx.as<float>();
      ASSERT_EQ(LaunchGemv(p, nullptr), cudaSuccess);
      for (int i = 0; i < 3; ++i) {
        EXPECT_LT(RelativeError(dy[i]->Download<float>(), refs[i]), kMaxRelError)
            << TypeName(type) << " k=" << s.k << " n=" << ns[i] << " output " << i;
      }
    }
  }
}

TEST(GemvTest, GateUpSwigluMatchesReference) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(12);
  for (WeightType type : kTypes) {
    for (const Shape& s : kShapes) {
      const auto x = cpu::RandomVector(s.k, rng);
      const TypedWeights wg = MakeWeights(cpu::RandomVector(static_cast<size_t>(s.n) * s.k, rng), type);
      const TypedWeights wu = MakeWeights(cpu::RandomVector(static_cast<size_t>(s.n) * s.k, rng), type);
      std::vector<float> ref(s.n);
      cpu::GateUpSwiglu(x.data(), wg.values.data(), wu.values.data(), 1, s.k, s.n, ref.data());
      DeviceBuffer dx(x), dg(wg), du(wu), dy(s.n * sizeof(float));
      ASSERT_EQ(LaunchGateUpSwiglu({dx.as<float>(), s.k, type, dg.get(), du.get(), s.n, dy.as<float>()}, nullptr),
                cudaSuccess);
      EXPECT_LT(RelativeError(dy.Download<float>(), ref), kMaxRelError) << TypeName(type) << " k=" << s.k;
    }
  }
}

TEST(GemvTest, NormPrologueAndResidualEpilogueMatchReference) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(14);
  for (WeightType type : kTypes) {
    for (const Shape& s : kShapes) {
      // Residual-stream scale inputs; the norm weight in f32 (as GGUF files store it) and in the weight type.
      const auto x = cpu::RandomVector(s.k, rng, 20);
      const TypedWeights g = MakeWeights(cpu::RandomVector(s.k, rng), type);
      std::vector<float> h(s.k);
      cpu::RmsNorm(x.data(), g.values.data(), 1, s.k, 1e-6f, h.data());
      const TypedWeights w = MakeWeights(cpu::RandomVector(static_cast<size_t>(s.n) * s.k, rng), type);
      const TypedWeights wu = MakeWeights(cpu::RandomVector(static_cast<size_t>(s.n) * s.k, rng), type);
      const auto r = cpu::RandomVector(s.n, rng, 20);
      std::vector<float> ref(s.n), ref_res(s.n), ref_gu(s.n);
      cpu::Matmul(h.data(), w.values.data(), 1, s.k, s.n, ref.data());
      cpu::MatmulResidual(x.data(), w.values.data(), r.data(), 1, s.k, s.n, ref_res.data());
      cpu::GateUpSwiglu(h.data(), w.values.data(), wu.values.data(), 1, s.k, s.n, ref_gu.data());
      DeviceBuffer dx(x), dg(g), dw(w), dwu(wu), dr(r), y(s.n * 4), y_res(s.n * 4), y_gu(s.n * 4);
      const NormPrologue norm{dg.get(), type, 1e-6f};
      GemvParams p{dx.as<float>(), s.k, type, 1, {dw.get()}, {y.as<float>()}, {s.n}, norm};
      ASSERT_EQ(LaunchGemv(p, nullptr), cudaSuccess);
      EXPECT_LT(RelativeError(y.Download<float>(), ref), kMaxRelError) << TypeName(type) << " k=" << s.k << " norm";
      GemvParams pr{dx.as<float>(), s.k, type, 1, {dw.get()}, {y_res.as<float>()}, {s.n}, {}, dr.as<float>()};
      ASSERT_EQ(LaunchGemv(pr, nullptr), cudaSuccess);
      EXPECT_LT(RelativeError(y_res.Download<float>(), ref_res), kMaxRelError) << TypeName(type) << " residual";
      ASSERT_EQ(LaunchGateUpSwiglu({dx.as<float>(), s.k, type, dw.get(), dwu.get(), s.n, y_gu.as<float>(), norm},
                                   nullptr),
                cudaSuccess);
      EXPECT_LT(RelativeError(y_gu.Download<float>(), ref_gu), kMaxRelError) << TypeName(type) << " gate_up norm";
    }
  }
}

// The device's fused output argmax of w x (w [n, k] as `type`); -1 where the launch fails.
int32_t DeviceOutputArgmax(const std::vector<float>& x, const TypedWeights& w, WeightType type, int n) {
  const int k = static_cast<int>(x.size());
  DeviceBuffer dx(x), dw(w), values(OutputArgmaxPartials(n) * sizeof(float)),
      indices(OutputArgmaxPartials(n) * sizeof(int32_t)), token(sizeof(int32_t));
  const cudaError_t launched = LaunchOutputArgmax(
      {dx.as<float>(), k, type, dw.get(), n, values.as<float>(), indices.as<int32_t>(), token.as<int32_t>()}, nullptr);
  EXPECT_EQ(launched, cudaSuccess) << TypeName(type);
  return launched == cudaSuccess ? token.Download<int32_t>()[0] : -1;
}

// The fused output argmax against the argmax of the reference logits; a different token only at a near-tie.
void CheckOutputArgmax(WeightType type, int k, int n, std::mt19937& rng) {
  const auto x = cpu::RandomVector(k, rng);
  const TypedWeights w = MakeWeights(cpu::RandomVector(static_cast<size_t>(n) * k, rng), type);
  std::vector<float> logits(n);
  cpu::Matmul(x.data(), w.values.data(), 1, k, n, logits.data());
  const int32_t want = cpu::Argmax(logits.data(), n);
  const int32_t got = DeviceOutputArgmax(x, w, type, n);
  if (got != want) {
    ASSERT_GE(got, 0);
    ASSERT_LT(got, n);
    EXPECT_NEAR(logits[got], logits[want], 1e-4 * std::abs(logits[want])) << TypeName(type);
  }
}

TEST(GemvTest, OutputArgmaxMatchesReference) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(13);
  for (WeightType type : kTypes) {
    for (int trial = 0; trial < 20; ++trial) {
      CheckOutputArgmax(type, trial % 2 ? 896 : 64, trial % 3 ? 151936 / 8 + trial : 512, rng);
    }
  }
}

// Block formats: the weights quantized on the CPU, the reference computed from their dequantized values, so
// only the kernels' decoding and accumulation are under test (the same f32 bound as the float types).
const WeightType kQuantTypes[] = {WeightType::kQ8_0, WeightType::kQ4_0, WeightType::kQ4_1, WeightType::kQ5_0,
                                  WeightType::kQ5_1, WeightType::kQ2_K, WeightType::kQ3_K, WeightType::kQ4_K,
                                  WeightType::kQ5_K, WeightType::kQ6_K};

// Whole blocks of each type; k = 12800 is too long to stage x (read in place).
std::vector<Shape> QuantShapes(WeightType type) {
  if (type == WeightType::kQ8_0 || type == WeightType::kQ4_0 || type == WeightType::kQ4_1 ||
      type == WeightType::kQ5_0 || type == WeightType::kQ5_1) {
    return {{32, 7}, {96, 131}, {896, 1152}, {4864, 257}, {12800, 40}};
  }
  return {{256, 7}, {768, 131}, {4864, 257}, {1536, 896}, {12800, 40}};
}

TEST(GemvTest, QuantizedMultiOutputAndResidualMatchReference) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(15);
  for (WeightType type : kQuantTypes) {
    for (const Shape& s : QuantShapes(type)) {
      const auto x = cpu::RandomVector(s.k, rng);
      const int ns[3] = {s.n, s.n / 4 + 1, 7};
      GemvParams p{nullptr, s.k, type, 3, {}, {}, {ns[0], ns[1], ns[2]}};
      DeviceBuffer dx(x);
      std::vector<std::unique_ptr<DeviceBuffer>> dw, dy;
      std::vector<std::vector<float>> refs;
      std::vector<TypedWeights> ws;
      for (int i = 0; i < 3; ++i) {
        ws.push_back(MakeWeights(cpu::RandomVector(static_cast<size_t>(ns[i]) * s.k, rng), type));
        dw.push_back(std::make_unique<DeviceBuffer>(ws[i]));
        dy.push_back(std::make_unique<DeviceBuffer>(ns[i] * sizeof(float)));
        p.w[i] = dw[i]->get();
        p.y[i] = dy[i]->as<float>();
        refs.emplace_back(ns[i]);
        cpu::Matmul(x.data(), ws[i].values.data(), 1, s.k, ns[i], refs[i].data());
      }
      p.x = dx.as<float>();
      ASSERT_EQ(LaunchGemv(p, nullptr), cudaSuccess) << TypeName(type);
      for (int i = 0; i < 3; ++i) {
        EXPECT_LT(RelativeError(dy[i]->Download<float>(), refs[i]), kMaxRelError)
            << TypeName(type) << " k=" << s.k << " n=" << ns[i] << " output " << i;
      }
      const auto r = cpu::RandomVector(s.n, rng, 20);
      std::vector<float> ref_res(s.n);
      cpu::MatmulResidual(x.data(), ws[0].values.data(), r.data(), 1, s.k, s.n, ref_res.data());
      DeviceBuffer dr(r), y_res(s.n * 4);
      GemvParams pr{dx.as<float>(), s.k, type, 1, {dw[0]->get()}, {y_res.as<float>()}, {s.n}, {}, dr.as<float>()};
      ASSERT_EQ(LaunchGemv(pr, nullptr), cudaSuccess);
      EXPECT_LT(RelativeError(y_res.Download<float>(), ref_res), kMaxRelError) << TypeName(type) << " residual";
    }
  }
}

TEST(GemvTest, QuantizedNormPrologueAndGateUpMatchReference) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(16);
  for (WeightType type : kQuantTypes) {
    for (const Shape& s : QuantShapes(type)) {
      const auto x = cpu::RandomVector(s.k, rng, 20);
      const auto g = cpu::RandomVector(s.k, rng);  // f32, as GGUF files store norms.
      std::vector<float> h(s.k);
      cpu::RmsNorm(x.data(), g.data(), 1, s.k, 1e-6f, h.data());
      const TypedWeights w = MakeWeights(cpu::RandomVector(static_cast<size_t>(s.n) * s.k, rng), type);
      const TypedWeights wu = MakeWeights(cpu::RandomVector(static_cast<size_t>(s.n) * s.k, rng), type);
      std::vector<float> ref(s.n), ref_gu(s.n), ref_plain_gu(s.n);
      cpu::Matmul(h.data(), w.values.data(), 1, s.k, s.n, ref.data());
      cpu::GateUpSwiglu(h.data(), w.values.data(), wu.values.data(), 1, s.k, s.n, ref_gu.data());
      cpu::GateUpSwiglu(x.data(), w.values.data(), wu.values.data(), 1, s.k, s.n, ref_plain_gu.data());
      DeviceBuffer dx(x), dg(g), dw(w), dwu(wu), y(s.n * 4), y_gu(s.n * 4), y_plain(s.n * 4);
      const NormPrologue norm{dg.get(), WeightType::kF32, 1e-6f};
      GemvParams p{dx.as<float>(), s.k, type, 1, {dw.get()}, {y.as<float>()}, {s.n}, norm};
      ASSERT_EQ(LaunchGemv(p, nullptr), cudaSuccess);
      EXPECT_LT(RelativeError(y.Download<float>(), ref), kMaxRelError) << TypeName(type) << " k=" << s.k << " norm";
      ASSERT_EQ(LaunchGateUpSwiglu({dx.as<float>(), s.k, type, dw.get(), dwu.get(), s.n, y_gu.as<float>(), norm},
                                   nullptr),
                cudaSuccess);
      EXPECT_LT(RelativeError(y_gu.Download<float>(), ref_gu), kMaxRelError) << TypeName(type) << " gate_up norm";
      ASSERT_EQ(LaunchGateUpSwiglu({dx.as<float>(), s.k, type, dw.get(), dwu.get(), s.n, y_plain.as<float>()},
                                   nullptr),
                cudaSuccess);
      EXPECT_LT(RelativeError(y_plain.Download<float>(), ref_plain_gu), kMaxRelError) << TypeName(type) << " gate_up";
    }
  }
}

// A vocabulary-sized product (a sampled step's logits, with the final norm folded in) takes 4-row tiles for
// every type: the CPU's values, and bit for bit what the layers' GEMV gives the same rows in a smaller product.
TEST(GemvTest, QuantizedLogitsMatchReferenceAndTheLayersGemv) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(18);
  constexpr int k = 512, n = 32768 + 77, head = 1000;
  for (WeightType type : kQuantTypes) {
    const auto x = cpu::RandomVector(k, rng, 20);
    const auto g = cpu::RandomVector(k, rng);
    std::vector<float> h(k), ref(n);
    cpu::RmsNorm(x.data(), g.data(), 1, k, 1e-6f, h.data());
    const TypedWeights w = MakeWeights(cpu::RandomVector(static_cast<size_t>(n) * k, rng), type);
    cpu::Matmul(h.data(), w.values.data(), 1, k, n, ref.data());
    DeviceBuffer dx(x), dg(g), dw(w), y(n * 4), y_head(head * 4);
    const NormPrologue norm{dg.get(), WeightType::kF32, 1e-6f};
    ASSERT_EQ(LaunchGemv({dx.as<float>(), k, type, 1, {dw.get()}, {y.as<float>()}, {n}, norm}, nullptr), cudaSuccess);
    const std::vector<float> got = y.Download<float>();
    EXPECT_LT(RelativeError(got, ref), kMaxRelError) << TypeName(type);
    ASSERT_EQ(LaunchGemv({dx.as<float>(), k, type, 1, {dw.get()}, {y_head.as<float>()}, {head}, norm}, nullptr),
              cudaSuccess);
    EXPECT_EQ(y_head.Download<float>(), std::vector<float>(got.begin(), got.begin() + head)) << TypeName(type);
  }
}

TEST(GemvTest, QuantizedOutputArgmaxMatchesReference) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(17);
  for (WeightType type : kQuantTypes) {
    for (int trial = 0; trial < 4; ++trial) {
      CheckOutputArgmax(type, trial == 3 ? 7168 : trial % 2 ? 768 : 256, trial % 3 ? 151936 / 8 + trial : 512, rng);
    }
  }
}

// Rows that tie exactly (the same bytes) resolve to the first of them, wherever the kernel's warps and blocks
// take their tiles: rows [0, first) are zero and every later row is the same positive one, with x positive.
// Also for ggrt's kQ8_0R rows, whose blocks' warps interleave their rows.
TEST(GemvTest, QuantizedOutputArgmaxTiesKeepTheFirstRow) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(19);
  std::uniform_real_distribution<float> positive(0.1f, 1.0f);
  const int k = 256, n = 151936 / 8 + 5;
  std::vector<float> x(k), row(k);
  for (float& v : x) v = positive(rng);
  for (float& v : row) v = positive(rng);
  for (int first : {0, 1, 9, 4999, n - 1}) {
    std::vector<float> w(static_cast<size_t>(n) * k, 0.0f);
    for (int r = first; r < n; ++r) std::copy(row.begin(), row.end(), w.begin() + static_cast<size_t>(r) * k);
    for (WeightType type : kQuantTypes) {
      EXPECT_EQ(DeviceOutputArgmax(x, MakeWeights(w, type), type, n), first) << TypeName(type) << " first " << first;
    }
    EXPECT_EQ(DeviceOutputArgmax(x, MakeQ8_0Rows(w, n, k), WeightType::kQ8_0R, n), first) << "rows, first " << first;
  }
}

// ggrt's kQ8_0R rows (a vocabulary-sized Q8_0 matrix repacked at load, read by their own kernels): the logits
// with the final norm folded in against the CPU's, at every k the layout takes (lanes idle below 512, one or
// two 16-byte chunks a lane), and the output argmax against the reference's; past 1024 a norm is refused.
TEST(GemvTest, Q8_0RowsLogitsAndArgmaxMatchReference) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(20);
  constexpr int n = 20011;  // Not whole groups of 8 rows, nor an even share of them a block.
  for (const int k : {32, 96, 512, 896, 1024}) {
    const auto x = cpu::RandomVector(k, rng, 20);
    const auto g = cpu::RandomVector(k, rng);
    std::vector<float> h(k), ref(n), plain(n);
    cpu::RmsNorm(x.data(), g.data(), 1, k, 1e-6f, h.data());
    const TypedWeights w = MakeQ8_0Rows(cpu::RandomVector(static_cast<size_t>(n) * k, rng), n, k);
    cpu::Matmul(h.data(), w.values.data(), 1, k, n, ref.data());
    DeviceBuffer dx(x), dg(g), dw(w), y(n * 4);
    y.Poison();
    const NormPrologue norm{dg.get(), WeightType::kF32, 1e-6f};
    ASSERT_EQ(LaunchGemv({dx.as<float>(), k, WeightType::kQ8_0R, 1, {dw.get()}, {y.as<float>()}, {n}, norm}, nullptr),
              cudaSuccess);
    EXPECT_LT(RelativeError(y.Download<float>(), ref), kMaxRelError) << "k " << k;
    cpu::Matmul(x.data(), w.values.data(), 1, k, n, plain.data());
    const int32_t want = cpu::Argmax(plain.data(), n), got = DeviceOutputArgmax(x, w, WeightType::kQ8_0R, n);
    if (got != want) {
      ASSERT_GE(got, 0);
      ASSERT_LT(got, n);
      EXPECT_NEAR(plain[got], plain[want], 1e-4 * std::abs(plain[want])) << "k " << k;
    }
  }
  const auto x = cpu::RandomVector(1056, rng), g = cpu::RandomVector(1056, rng);
  const TypedWeights w = MakeQ8_0Rows(cpu::RandomVector(size_t{4096} * 1056, rng), 4096, 1056);
  DeviceBuffer dx(x), dg(g), dw(w), y(4096 * 4);
  const NormPrologue norm{dg.get(), WeightType::kF32, 1e-6f};
  EXPECT_EQ(
      LaunchGemv({dx.as<float>(), 1056, WeightType::kQ8_0R, 1, {dw.get()}, {y.as<float>()}, {4096}, norm}, nullptr),
      cudaErrorInvalidValue);
}

// A layer's product over kQ8_0R rows (the runtime repacks a Q8_0 ffn_down: rows longer than the vocabulary
// kernels hold), with and without the residual, at row lengths that take one to eight warps a row and one
// to several rounds of chunks a lane, and row counts that leave a block's last rows idle.
TEST(GemvTest, Q8_0RowsLayerProductMatchesReference) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(21);
  for (const Shape& s : std::vector<Shape>{{32, 7}, {1056, 131}, {4864, 896}, {4864, 257}, {12800, 40}, {40960, 9}}) {
    const auto x = cpu::RandomVector(s.k, rng), r = cpu::RandomVector(s.n, rng, 20);
    const TypedWeights w = MakeQ8_0Rows(cpu::RandomVector(static_cast<size_t>(s.n) * s.k, rng), s.n, s.k);
    std::vector<float> ref(s.n), ref_res(s.n);
    cpu::Matmul(x.data(), w.values.data(), 1, s.k, s.n, ref.data());
    cpu::MatmulResidual(x.data(), w.values.data(), r.data(), 1, s.k, s.n, ref_res.data());
    DeviceBuffer dx(x), dr(r), dw(w), y(s.n * 4), y_res(s.n * 4);
    y_res.Poison();
    const GemvParams with_residual{dx.as<float>(), s.k, WeightType::kQ8_0R, 1, {dw.get()}, {y_res.as<float>()},
                                   {s.n}, {}, dr.as<float>()};
    ASSERT_EQ(LaunchGemv(with_residual, nullptr), cudaSuccess);
    EXPECT_LT(RelativeError(y_res.Download<float>(), ref_res), kMaxRelError) << "k " << s.k << " residual";
    if (Q8_0RowsFit(s.k)) continue;  // Without a residual, the vocabulary kernel (above).
    y.Poison();
    ASSERT_EQ(LaunchGemv({dx.as<float>(), s.k, WeightType::kQ8_0R, 1, {dw.get()}, {y.as<float>()}, {s.n}}, nullptr),
              cudaSuccess);
    EXPECT_LT(RelativeError(y.Download<float>(), ref), kMaxRelError) << "k " << s.k;
  }
}

TEST(GemvTest, TwoBlockFormatsInOneProductMatchReference) {
  // A Q4_K_M layer's q, k and v: pairs with a kernel of their own (either order, one or two weights of the
  // first type), a pair without one and rows too long for it (a launch per type), with and without a norm.
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(18);
  using W = WeightType;
  struct Case {
    W a, b;
    int k, other_from;
  };
  const Case cases[] = {{W::kQ5_0, W::kQ8_0, 896, 2}, {W::kQ8_0, W::kQ5_0, 896, 1}, {W::kQ4_K, W::kQ6_K, 768, 2},
                        {W::kQ5_K, W::kQ6_K, 256, 1}, {W::kQ3_K, W::kQ5_K, 1024, 2}, {W::kQ2_K, W::kQ3_K, 512, 2},
                        {W::kQ5_1, W::kQ8_0, 96, 2},  {W::kQ8_0, W::kQ4_0, 896, 2}, {W::kQ4_K, W::kQ6_K, 4864, 2},
                        {W::kQ5_0, W::kQ8_0, 12800, 2}};
  for (const Case& c : cases) {
    for (bool with_norm : {false, true}) {
      const auto x = cpu::RandomVector(c.k, rng, 20);
      const auto g = cpu::RandomVector(c.k, rng);
      std::vector<float> h(c.k);
      cpu::RmsNorm(x.data(), g.data(), 1, c.k, 1e-6f, h.data());
      const int ns[3] = {131, 64, 33};
      DeviceBuffer dx(x), dg(g);
      GemvParams p{dx.as<float>(), c.k, c.a, 3, {}, {}, {ns[0], ns[1], ns[2]}};
      if (with_norm) p.norm = {dg.get(), WeightType::kF32, 1e-6f};
      p.other_from = c.other_from;
      p.other_type = c.b;
      std::vector<std::unique_ptr<DeviceBuffer>> dw, dy;
      std::vector<std::vector<float>> refs;
      for (int i = 0; i < 3; ++i) {
        const TypedWeights w =
            MakeWeights(cpu::RandomVector(static_cast<size_t>(ns[i]) * c.k, rng), i < c.other_from ? c.a : c.b);
        dw.push_back(std::make_unique<DeviceBuffer>(w));
        dy.push_back(std::make_unique<DeviceBuffer>(ns[i] * sizeof(float)));
        p.w[i] = dw[i]->get();
        p.y[i] = dy[i]->as<float>();
        refs.emplace_back(ns[i]);
        cpu::Matmul(with_norm ? h.data() : x.data(), w.values.data(), 1, c.k, ns[i], refs[i].data());
      }
      ASSERT_EQ(LaunchGemv(p, nullptr), cudaSuccess) << TypeName(c.a) << " + " << TypeName(c.b);
      for (int i = 0; i < 3; ++i) {
        EXPECT_LT(RelativeError(dy[i]->Download<float>(), refs[i]), kMaxRelError)
            << TypeName(c.a) << " + " << TypeName(c.b) << " k=" << c.k << " norm=" << with_norm << " output " << i;
      }
    }
  }
  // A float weight beside a block format is refused.
  DeviceBuffer dx(std::vector<float>(32)), dy(32 * 4), dw(std::vector<float>(32 * 32));
  GemvParams p{dx.as<float>(), 32, WeightType::kF32, 2, {dw.get(), dw.get()}, {dy.as<float>(), dy.as<float>()},
               {32, 32}};
  p.other_from = 1;
  p.other_type = WeightType::kQ8_0;
  EXPECT_EQ(LaunchGemv(p, nullptr), cudaErrorInvalidValue);
}

TEST(GemvTest, PartialBlocksAreRefused) {
  SKIP_WITHOUT_GPU();
  DeviceBuffer dx(std::vector<float>(100, 1.0f)), dw(1024), dy(64);
  GemvParams p{dx.as<float>(), 100, WeightType::kQ8_0, 1, {dw.get()}, {dy.as<float>()}, {1}};
  EXPECT_NE(LaunchGemv(p, nullptr), cudaSuccess);
  p.k = 96;
  p.type = WeightType::kQ4_K;
  EXPECT_NE(LaunchGemv(p, nullptr), cudaSuccess);
  cudaGetLastError();
}

}  // namespace
}  // namespace ggrt::cuda
