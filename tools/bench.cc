// llama-bench style throughput measurement: prefill (-p, with the time to first token) and decode (-n, after
// -d prompt tokens) tokens/s over -r repetitions, with the CUDA Graph decode path and without it, the
// decode roofline (weight bytes read per token over the card's measured copy bandwidth) and the device
// memory split. -p and -d take lists (-p 512,2048,8192).
//   bench -m FILE.gguf | --synthetic=qwen2.5-0.5b|qwen2.5-1.5b --dtype=f16|bf16 [--vocab FILE]
//         [-p 512] [-n 128] [-d 0] [-r 5] [--prefill-chunk 2048] [--cuda-graph both|on|off] [--backend cuda|cpu]
//         [--json]
//         [--no-fuse | --disable-passes a,b] [--profile] [--trace] [--ctx-size N] [--cache-type f16|f32] [--no-pdl]
//         [--prefill-graph]
//         [--temp T [--top-k K] [--repeat-penalty R]]  (decode sampled on the device instead of greedy)
//         [--batch 1,4,16,64,128 [--no-run-ahead]]  (llama-batched-bench style: B sequences of -p prompt
//                                   tokens and -n new tokens each through the batching engine, per B: prefill
//                                   and aggregate decode tokens/s; -p defaults to 128 there)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "graph/lower_model.h"
#include "ops/cuda/cuda_status.h"
#include "ops/cuda/launch.h"
#include "ops/kv_pages.h"
#include "runtime/cuda_executor.h"
#include "runtime/engine.h"
#include "runtime/model.h"
#include "runtime/sampler.h"
#include "runtime/session.h"
#include "tools/flags.h"
#include "tools/kernel_trace.h"
#include "loader/quantize.h"
#include "tools/synthetic_model.h"

namespace ggrt {
namespace {

struct Sample {
  std::string test;   // "pp512" or "tg128"
  std::string graph;  // "on", "off" or "-"
  double mean = 0, sd = 0;
  double ttft_ms = 0;  // Prefill: mean time to the first token.
};

std::pair<double, double> MeanSd(const std::vector<double>& v) {
  double mean = 0;
  for (double x : v) mean += x / v.size();
  double var = 0;
  for (double x : v) var += (x - mean) * (x - mean) / std::max<size_t>(v.size() - 1, 1);
  return {mean, std::sqrt(var)};
}

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Device-to-device copy bandwidth in bytes/s, counting bytes read plus bytes written.
absl::StatusOr<double> CopyBandwidth() {
  const size_t bytes = size_t{1} << 30;
  void *a = nullptr, *b = nullptr;
  CUDA_RETURN_IF_ERROR(cudaMalloc(&a, bytes));
  CUDA_RETURN_IF_ERROR(cudaMalloc(&b, bytes));
  CUDA_RETURN_IF_ERROR(cudaMemset(a, 1, bytes));
  cudaEvent_t start, stop;
  CUDA_RETURN_IF_ERROR(cudaEventCreate(&start));
  CUDA_RETURN_IF_ERROR(cudaEventCreate(&stop));
  for (int i = 0; i < 3; ++i) CUDA_RETURN_IF_ERROR(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice));
  std::vector<double> times;
  for (int i = 0; i < 10; ++i) {
    CUDA_RETURN_IF_ERROR(cudaEventRecord(start));
    CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice));
    CUDA_RETURN_IF_ERROR(cudaEventRecord(stop));
    CUDA_RETURN_IF_ERROR(cudaEventSynchronize(stop));
    float ms = 0;
    CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, start, stop));
    times.push_back(ms / 1e3);
  }
  std::sort(times.begin(), times.end());
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaFree(a);
  cudaFree(b);
  return 2.0 * bytes / times[times.size() / 2];
}

// Bytes of weights one decode step reads: every weight in full, except an embedding table that only the
// gather uses (one row per token).
int64_t DecodeWeightBytes(const Graph& decode) {
  int64_t total = 0;
  for (const Value* p : decode.params()) {
    bool gather_only = !p->users.empty();
    for (const Node* u : p->users) gather_only &= u->op == OpKind::kEmbedding;
    total += gather_only ? p->type.bytes() / p->type.shape[0] : p->type.bytes();
  }
  return total;
}

struct BatchedSample {
  int batch = 0;
  double prefill_tps = 0, decode_tps = 0, step_ms = 0;
};

// The step table of a trace's decode graph launches: a run-ahead step that was discarded, or launched after
// the last step asked for, replays the same graph and counts as a step; other launches are left out.
absl::StatusOr<std::string> DecodeStepTable(const std::vector<KernelSpan>& spans) {
  ASSIGN_OR_RETURN(const RepeatedLaunches steps, MostRepeatedLaunch(spans));
  ASSIGN_OR_RETURN(std::string table, StepTable(steps.spans, steps.steps, cuda::SmCount()));
  if (steps.other_launches > 0) {
    absl::StrAppendFormat(&table, "\n(left out: %d other launches, %d kernels)\n", steps.other_launches,
                          steps.other_kernels);
  }
  return table;
}

// llama-batched-bench's measurement through the engine: `batch` sequences of `n_prompt` random tokens each
// generate `n_gen` tokens (no stop), all admitted at once. Prefill: from adding them to the last one's first
// token (their prompts prefilled one after another); decode: the batched steps after that, every sequence's
// tokens counted. One warm-up run per batch size builds and captures its graphs.
absl::StatusOr<BatchedSample> RunBatched(Executor& executor, int batch, int n_prompt, int n_gen, int reps,
                                         int n_vocab, bool run_ahead, std::mt19937& rng,
                                         const std::function<void()>& after_first_step = nullptr) {
  std::uniform_int_distribution<int32_t> token(0, n_vocab - 1);
  std::vector<double> prefill, decode, steps;
  for (int r = -1; r < reps; ++r) {
    ASSIGN_OR_RETURN(auto engine, Engine::Create(executor, {.max_batch = batch,
                                                           .prefill_chunk = n_prompt,
                                                           .prefill_budget = batch * n_prompt,
                                                           .run_ahead = run_ahead}));
    for (int i = 0; i < batch; ++i) {
      std::vector<int32_t> prompt(n_prompt);
      for (int32_t& t : prompt) t = token(rng);
      RETURN_IF_ERROR(engine->Add(std::move(prompt), {.max_new_tokens = n_gen, .stop_at_end_of_generation = false})
                          .status());
    }
    const double t0 = Now();
    // The first step prefills every prompt (the budget holds them all), then runs the first decode step.
    double t_prefilled = 0;
    int decoded = 0, n_steps = 0;
    bool first = true;
    while (!engine->idle()) {
      ASSIGN_OR_RETURN(std::vector<SequenceEvent> events, engine->Step());
      if (first) {
        // Prefill time: this step less one decode step, which the later steps measure.
        t_prefilled = Now();
        first = false;
        if (after_first_step) after_first_step();
        decoded += static_cast<int>(events.size()) - batch;
        continue;
      }
      decoded += static_cast<int>(events.size());
      ++n_steps;
    }
    const double t_end = Now();
    if (r < 0) continue;
    const double step = (t_end - t_prefilled) / std::max(n_steps, 1);
    prefill.push_back(batch * n_prompt / (t_prefilled - t0 - step));
    // Decoded tokens over the decode steps' time, the first step's decode part estimated as one step.
    decode.push_back(decoded / (t_end - t_prefilled + step));
    steps.push_back(1e3 * step);
  }
  return BatchedSample{batch, MeanSd(prefill).first, MeanSd(decode).first, MeanSd(steps).first};
}

absl::Status Main(int argc, char** argv) {
  Flags flags;
  RETURN_IF_ERROR(flags.Parse(argc, argv,
                              WithCacheTypeFlags({{{"-m", "--model"}}, {{"--synthetic"}}, {{"--dtype"}}, {{"--vocab"}}, {{"-p"}},
                               {{"-n"}}, {{"-d", "--depth"}}, {{"-r"}}, {{"--cuda-graph"}}, {{"--backend"}},
                               {{"--json"}, false},
                               {{"--ctx-size"}}, {{"--no-fuse"}, false}, {{"--profile"}, false}, {{"--trace"}, false},
                               {{"--disable-passes"}}, {{"--no-pdl"}, false},
                               {{"--prefill-graph"}, false}, {{"--temp"}}, {{"--top-k"}},
                               {{"--repeat-penalty"}}, {{"--prefill-chunk"}}, {{"--batch"}},
                               {{"--no-run-ahead"}, false}})));
  if (flags.Has("--no-pdl")) cuda::SetProgrammaticLaunch(false);  // Kernels strictly one after another.
  std::vector<int> n_prompts = {512};
  int n_gen = 128, reps = 5, prefill_chunk = kDefaultPrefillChunk;
  RETURN_IF_ERROR(flags.GetIntList("-p", &n_prompts, 0, kMaxContext));
  RETURN_IF_ERROR(flags.GetInt("-n", &n_gen, 0, kMaxContext));
  std::vector<int> depths = {0};  // Decode after this many prompt tokens (llama-bench's -d): a long cache.
  RETURN_IF_ERROR(flags.GetIntList("--depth", &depths, 0, kMaxContext));
  RETURN_IF_ERROR(flags.GetInt("-r", &reps, 1, 1000));
  RETURN_IF_ERROR(flags.GetInt("--prefill-chunk", &prefill_chunk, 1, kMaxContext));
  float temperature = 0.0f;
  int top_k = 40;
  RETURN_IF_ERROR(flags.GetFloat("--temp", &temperature, 0.0f, 1e4f));
  RETURN_IF_ERROR(flags.GetInt("--top-k", &top_k, 0, std::numeric_limits<int>::max()));
  float repeat_penalty = 1.0f;
  RETURN_IF_ERROR(flags.GetFloat("--repeat-penalty", &repeat_penalty, 0.0f, 1e4f, /*lo_open=*/true));
  const bool sampled = temperature > 0.0f;
  const std::string decode_label =
      sampled ? absl::StrFormat(" (t=%g, top-k %d%s)", temperature, top_k,
                                repeat_penalty != 1.0f ? absl::StrFormat(", penalty %g", repeat_penalty) : "")
              : "";
  std::string path = flags.Get("--model");
  std::string label = path;
  if (flags.Has("--synthetic")) {
    ASSIGN_OR_RETURN(SyntheticPreset preset, FindSyntheticPreset(flags.Get("--synthetic")));
    // A float type is written directly; a quantization type (q8_0, q4_k_m, ...) is the F16 model quantized
    // by our llama-quantize-compatible quantizer.
    const std::string dtype_name = flags.Get("--dtype", "f16");
    absl::StatusOr<QuantMix> mix = QuantMixFromName(dtype_name);
    ASSIGN_OR_RETURN(DType dtype, mix.ok() ? absl::StatusOr<DType>(DType::kF16) : DTypeFromName(dtype_name));
    ASSIGN_OR_RETURN(auto vocab, GgufFile::Open(flags.Get("--vocab", "../shared/models/qwen2.5-vocab.gguf")));
    path = absl::StrCat("/tmp/ggrt-synthetic-", preset.name, "-", DTypeName(dtype), ".gguf");
    const double t0 = Now();
    ASSIGN_OR_RETURN(const bool written, EnsureSyntheticModel(preset, dtype, *vocab, path, 1234));
    std::fprintf(stderr, "%s %s in %.1f s\n", written ? "wrote" : "reusing", path.c_str(), Now() - t0);
    label = absl::StrCat(preset.name, " ", DTypeName(dtype), " (synthetic)");
    if (mix.ok()) {
      const std::string quantized = absl::StrCat("/tmp/ggrt-synthetic-", preset.name, "-", QuantMixName(*mix), ".gguf");
      ASSIGN_OR_RETURN(auto f16, GgufFile::Open(path));
      if (!written && GgufFile::Open(quantized).ok()) {
        std::fprintf(stderr, "reusing %s\n", quantized.c_str());
      } else {
        const double t1 = Now();
        RETURN_IF_ERROR(QuantizeModel(*f16, *mix, quantized));
        std::fprintf(stderr, "quantized %s in %.1f s\n", quantized.c_str(), Now() - t1);
      }
      path = quantized;
      label = absl::StrCat(preset.name, " ", QuantMixName(*mix), " (synthetic, quantized by ggrt)");
    }
  }
  RET_CHECK(!path.empty(), "give -m FILE.gguf or --synthetic=NAME");
  ASSIGN_OR_RETURN(Backend backend, BackendFromName(flags.Get("--backend", "auto")));
  if (backend == Backend::kAuto) backend = CudaAvailable() ? Backend::kCuda : Backend::kCpu;
  if (backend != Backend::kCuda && (flags.Has("--trace") || flags.Has("--profile"))) {
    return absl::InvalidArgumentError("--trace and --profile time CUDA kernels: they need the cuda backend");
  }
  ASSIGN_OR_RETURN(const std::string graph_modes, flags.GetChoice("--cuda-graph", {"both", "on", "off"}));
  std::vector<bool> modes;
  if (graph_modes == "both" || graph_modes == "on") modes.push_back(true);
  if (graph_modes == "both" || graph_modes == "off") modes.push_back(false);
  if (backend == Backend::kCpu) modes = {false};

  std::string card = "cpu";
  double bandwidth = 0;
  size_t free_before = 0, total_mem = 0;
  if (backend == Backend::kCuda) {
    cudaDeviceProp prop;
    CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, 0));
    card = prop.name;
    ASSIGN_OR_RETURN(bandwidth, CopyBandwidth());
    CUDA_RETURN_IF_ERROR(cudaMemGetInfo(&free_before, &total_mem));
  }
  int ctx = std::max(*std::max_element(n_prompts.begin(), n_prompts.end()),
                     *std::max_element(depths.begin(), depths.end()) + n_gen) +
            16;
  RETURN_IF_ERROR(flags.GetInt("--ctx-size", &ctx, 1, kMaxContext));
  ASSIGN_OR_RETURN(const DType kv_type, CacheTypeFromFlags(flags));
  ASSIGN_OR_RETURN(const PipelineSelection passes,
                   PassSelectionFromFlags(flags.Has("--no-fuse"), std::nullopt, flags.GetOptional("--disable-passes")));

  std::mt19937 rng(7);
  if (flags.Has("--batch")) {
    std::vector<int> batches;
    RETURN_IF_ERROR(flags.GetIntList("--batch", &batches, 1, kMaxBatch));
    const int n_prompt = flags.Has("-p") ? n_prompts[0] : 128;
    RET_CHECK(n_prompt >= 1 && n_gen >= 2, "--batch needs -p >= 1 and -n >= 2");
    const int seq_ctx = n_prompt + n_gen + 16;
    const int max_batch = *std::max_element(batches.begin(), batches.end());
    ModelOptions o{.path = path, .backend = backend, .ctx_size = seq_ctx,
                   .kv_pool_tokens = static_cast<int64_t>(max_batch) * KvPages(seq_ctx) * kKvPageSize,
                   .greedy = true};
    o.kv_type = kv_type;
    o.passes = passes;
    ASSIGN_OR_RETURN(LoadedModel m, LoadModel(o));
    std::vector<BatchedSample> rows;
    for (int b : batches) {
      ASSIGN_OR_RETURN(BatchedSample row, RunBatched(*m.executor, b, n_prompt, n_gen, reps, m.config.n_vocab,
                                                                     !flags.Has("--no-run-ahead"), rng));
      rows.push_back(row);
      if (backend == Backend::kCuda && flags.Has("--profile")) {
        // Per-op device time of 16 eager batched decode steps (the first step, with the prefills, is left out).
        auto& cuda = static_cast<CudaExecutor&>(*m.executor);
        cuda.set_profiling(true);
        RETURN_IF_ERROR(RunBatched(*m.executor, b, 1, 18, 0, m.config.n_vocab, false, rng, [&] { cuda.clear_profile(); })
                            .status());
        cuda.set_profiling(false);
        double step_ms = 0;
        for (const auto& [op, v] : cuda.profile()) step_ms += v.ms / 16;
        std::fprintf(stderr, "batch %d profile (eager, per step): %.1f us\n", b, 1e3 * step_ms);
        for (const auto& [op, v] : cuda.profile()) {
          std::fprintf(stderr, "  %-26s %8.1f us  %5.1f%%  %4d launches\n", op.c_str(), 1e3 * v.ms / 16,
                       100 * v.ms / 16 / step_ms, v.launches / 16);
        }
      }
      if (backend == Backend::kCuda && flags.Has("--trace")) {
        // The kernels of the 17 decode steps after the first (prefill) step, as the engine's graphs run them.
        std::unique_ptr<KernelTrace> trace;
        absl::Status started = absl::OkStatus();
        RETURN_IF_ERROR(RunBatched(*m.executor, b, 1, 18, 0, m.config.n_vocab, !flags.Has("--no-run-ahead"), rng, [&] {
                          absl::StatusOr<std::unique_ptr<KernelTrace>> t = KernelTrace::Start();
                          if (t.ok()) trace = std::move(*t);
                          started = t.status();
                        }).status());
        RETURN_IF_ERROR(started);
        RET_CHECK(trace != nullptr, "--trace: the batched run ended before its first step");
        ASSIGN_OR_RETURN(const std::vector<KernelSpan> spans, trace->Stop());
        ASSIGN_OR_RETURN(const std::string table, DecodeStepTable(spans));
        std::fprintf(stderr, "batch %d decode trace:\n%s\n", b, table.c_str());
      }
    }
    int64_t peak = 0;
    CudaMemoryStats mem;
    if (backend == Backend::kCuda) {
      size_t free_now = 0, total = 0;
      CUDA_RETURN_IF_ERROR(cudaMemGetInfo(&free_now, &total));
      peak = static_cast<int64_t>(free_before) - static_cast<int64_t>(free_now);
      mem = static_cast<CudaExecutor&>(*m.executor).memory();
    }
    if (flags.Has("--json")) {
      std::printf("{\"model\": \"%s\", \"card\": \"%s\", \"prompt\": %d, \"generated\": %d, "
                  "\"peak_device_bytes\": %ld, \"results\": [",
                  label.c_str(), card.c_str(), n_prompt, n_gen, peak);
      for (size_t i = 0; i < rows.size(); ++i) {
        std::printf("%s{\"sequences\": %d, \"prefill_tokens_per_s\": %.1f, \"decode_tokens_per_s\": %.1f, "
                    "\"step_ms\": %.3f}",
                    i ? ", " : "", rows[i].batch, rows[i].prefill_tps, rows[i].decode_tps, rows[i].step_ms);
      }
      std::printf("]}\n");
      return absl::OkStatus();
    }
    std::printf("| model | card | prompt | generated | sequences | prefill t/s | decode t/s (aggregate) | "
                "per sequence t/s | decode step |\n|---|---|---|---|---|---|---|---|---|\n");
    for (const BatchedSample& r : rows) {
      std::printf("| %s | %s | %d | %d | %d | %.0f | %.0f | %.1f | %.3f ms |\n", label.c_str(), card.c_str(), n_prompt,
                  n_gen, r.batch, r.prefill_tps, r.decode_tps, r.decode_tps / r.batch, r.step_ms);
    }
    if (backend == Backend::kCuda) {
      std::printf("\ndevice memory: %.1f MB used at peak = weights %.1f MB + KV pool %.1f MB + activations %.1f MB + "
                  "scratch %.1f MB (+ %.1f MB outside the executor's allocations)\n",
                  peak / 1e6, mem.weights / 1e6, mem.kv_cache / 1e6, mem.activations / 1e6, mem.scratch / 1e6,
                  (peak - mem.weights - mem.kv_cache - mem.activations - mem.scratch) / 1e6);
    }
    return absl::OkStatus();
  }

  std::vector<Sample> samples;
  int64_t weight_bytes = 0, peak_used = 0, used_at_load = 0;
  CudaMemoryStats split;
  size_t graph_nodes = 0;
  for (bool graph : modes) {
    ModelOptions o{.path = path, .backend = backend, .ctx_size = ctx, .greedy = !sampled, .cuda_graph = graph};
    o.kv_type = kv_type;
    if (sampled) {
      o.sampler = SamplerOptions{
          .temperature = temperature, .top_k = top_k, .repeat_penalty = repeat_penalty, .seed = 1};
    }
    o.passes = passes;
    ASSIGN_OR_RETURN(LoadedModel m, LoadModel(o));
    if (backend == Backend::kCuda && graph == modes[0]) {
      size_t free_now = 0, total = 0;
      CUDA_RETURN_IF_ERROR(cudaMemGetInfo(&free_now, &total));
      used_at_load = static_cast<int64_t>(free_before) - static_cast<int64_t>(free_now);
    }
    if (weight_bytes == 0) {
      const GraphFactory factory = MakeGraphFactory(*m.file, m.config, {.ctx_size = ctx, .greedy = true}, o.passes);
      ASSIGN_OR_RETURN(Graph decode, factory(1, 1, false));
      weight_bytes = DecodeWeightBytes(decode);
    }
    std::uniform_int_distribution<int32_t> token(0, m.config.n_vocab - 1);
    for (const int n_prompt : n_prompts) {
      if (n_prompt == 0 || graph != modes[0]) continue;
      std::vector<int32_t> prompt(n_prompt);
      std::vector<double> rates, seconds;
      // Warm-up runs: graph build and cuBLASLt choices, then the capture when prefill graphs are captured.
      const bool capture = backend == Backend::kCuda && flags.Has("--prefill-graph");
      if (capture) static_cast<CudaExecutor&>(*m.executor).set_capture_prefill(true);
      for (int r = capture ? -2 : -1; r < reps; ++r) {
        for (int32_t& t : prompt) t = token(rng);
        const double t0 = Now();
        RETURN_IF_ERROR(PrefillInChunks(*m.executor, prompt, 0, prefill_chunk).status());
        if (r >= 0) {
          seconds.push_back(Now() - t0);
          rates.push_back(n_prompt / seconds.back());
        }
      }
      const auto [mean, sd] = MeanSd(rates);
      samples.push_back({absl::StrCat("pp", n_prompt), capture ? "on" : "-", mean, sd, 1e3 * MeanSd(seconds).first});
      if (backend == Backend::kCuda && flags.Has("--trace")) {
        // Each kernel's device start and end over -r more prefills of the prompt (each the same launches).
        ASSIGN_OR_RETURN(std::unique_ptr<KernelTrace> trace, KernelTrace::Start());
        for (int r = 0; r < reps; ++r) RETURN_IF_ERROR(PrefillInChunks(*m.executor, prompt, 0, prefill_chunk).status());
        ASSIGN_OR_RETURN(const std::vector<KernelSpan> spans, trace->Stop());
        ASSIGN_OR_RETURN(const std::string table, StepTable(spans, reps, cuda::SmCount()));
        std::fprintf(stderr, "pp%d trace (%s):\n%s\n", n_prompt, capture ? "CUDA graph" : "eager", table.c_str());
      }
    }
    for (const int depth : depths) {
      if (n_gen == 0) break;
      std::vector<double> rates;
      std::vector<int32_t> context(depth);
      // The token a step chose, or (when the executor returns logits, as the CPU one does) the host's draw.
      Sampler host_sampler(o.sampler.value_or(SamplerOptions{}));
      auto next = [&](const StepOutput& out) { return out.token >= 0 ? out.token : host_sampler.Sample(out.logits); };
      for (int r = -1; r < reps; ++r) {  // r = -1 warms up and captures the decode graph.
        int32_t t = token(rng);
        if (depth > 0) {
          for (int32_t& c : context) c = token(rng);
          ASSIGN_OR_RETURN(StepOutput out, PrefillInChunks(*m.executor, context, 0, prefill_chunk));
          t = next(out);
        }
        const double t0 = Now();
        for (int i = 0; i < n_gen; ++i) {
          ASSIGN_OR_RETURN(StepOutput out, m.executor->Decode(t, depth + i));
          t = next(out);
        }
        if (r >= 0) rates.push_back(n_gen / (Now() - t0));
      }
      const auto [mean, sd] = MeanSd(rates);
      samples.push_back({absl::StrCat("tg", n_gen, depth > 0 ? absl::StrCat(" @ d", depth) : "", decode_label),
                         backend == Backend::kCuda ? (graph ? "on" : "off") : "-", mean, sd});
      if (backend == Backend::kCuda && flags.Has("--trace") && depth == depths.front()) {
        // Each kernel's device start and end over -n more steps, as the decode graph (or eager path) runs them.
        ASSIGN_OR_RETURN(std::unique_ptr<KernelTrace> trace, KernelTrace::Start());
        int32_t t = token(rng);
        for (int i = 0; i < n_gen; ++i) {
          ASSIGN_OR_RETURN(StepOutput out, m.executor->Decode(t, depth + i));
          t = next(out);
        }
        ASSIGN_OR_RETURN(const std::vector<KernelSpan> spans, trace->Stop());
        ASSIGN_OR_RETURN(const std::string table, graph ? DecodeStepTable(spans) : StepTable(spans, n_gen));
        std::fprintf(stderr, "decode trace (%s):\n%s\n", graph ? "CUDA graph" : "eager", table.c_str());
      }
    }
    if (backend == Backend::kCuda && flags.Has("--profile") && graph == modes[0]) {
      // Per-op device time of eager decode steps (events between launches).
      auto& cuda = static_cast<CudaExecutor&>(*m.executor);
      cuda.set_profiling(true);
      int32_t t = token(rng);
      for (int i = 0; i < n_gen; ++i) {
        ASSIGN_OR_RETURN(StepOutput out, m.executor->Decode(t, i));
        t = out.token;
      }
      cuda.set_profiling(false);
      double step_ms = 0;
      for (const auto& [op, v] : cuda.profile()) step_ms += v.ms / n_gen;
      std::fprintf(stderr, "decode profile (eager, per token): %.1f us\n", 1e3 * step_ms);
      for (const auto& [op, v] : cuda.profile()) {
        std::fprintf(stderr, "  %-26s %8.1f us  %5.1f%%  %4d launches\n", op.c_str(), 1e3 * v.ms / n_gen,
                     100 * v.ms / n_gen / step_ms, v.launches / n_gen);
      }
      // One prefill of the first -p length: per op, and per GEMM shape with its achieved TFLOP/s.
      if (!n_prompts.empty() && n_prompts[0] > 0) {
        cuda.clear_profile();
        cuda.set_profiling(true);
        std::vector<int32_t> prompt(n_prompts[0]);
        for (int32_t& t : prompt) t = token(rng);
        RETURN_IF_ERROR(PrefillInChunks(cuda, prompt, 0, prefill_chunk).status());
        cuda.set_profiling(false);
        double total_ms = 0;
        for (const auto& [op, v] : cuda.profile()) total_ms += v.ms;
        std::fprintf(stderr, "prefill profile (pp%d, eager): %.2f ms\n", n_prompts[0], total_ms);
        for (const auto& [op, v] : cuda.profile()) {
          std::fprintf(stderr, "  %-26s %8.1f us  %5.1f%%  %4d launches%s\n", op.c_str(), 1e3 * v.ms,
                       100 * v.ms / total_ms, v.launches,
                       v.flops > 0 ? absl::StrFormat("  %.0f TFLOP/s", v.flops / (v.ms * 1e-3) / 1e12).c_str() : "");
        }
      }
    }
    if (backend == Backend::kCuda) {
      auto& cuda = static_cast<CudaExecutor&>(*m.executor);
      // The largest of each part over the runs (only the first run prefills).
      const CudaMemoryStats& m_stats = cuda.memory();
      split.weights = std::max(split.weights, m_stats.weights);
      split.kv_cache = std::max(split.kv_cache, m_stats.kv_cache);
      split.activations = std::max(split.activations, m_stats.activations);
      split.scratch = std::max(split.scratch, m_stats.scratch);
      graph_nodes = std::max(graph_nodes, cuda.decode_graph_nodes());
      size_t free_now = 0, total = 0;
      CUDA_RETURN_IF_ERROR(cudaMemGetInfo(&free_now, &total));
      peak_used = std::max<int64_t>(peak_used, static_cast<int64_t>(free_before) - static_cast<int64_t>(free_now));
    }
  }

  const double roofline_tps = bandwidth > 0 ? bandwidth / weight_bytes : 0;
  if (flags.Has("--json")) {
    std::printf("{\"model\": \"%s\", \"card\": \"%s\", \"copy_bandwidth_gbs\": %.1f, \"weight_bytes_per_token\": %ld, "
                "\"roofline_tokens_per_s\": %.1f, \"peak_device_bytes\": %ld, \"weights_bytes\": %ld, "
                "\"kv_cache_bytes\": %ld, \"activation_bytes\": %ld, \"scratch_bytes\": %ld, \"results\": [",
                label.c_str(), card.c_str(), bandwidth / 1e9, weight_bytes, roofline_tps, peak_used, split.weights,
                split.kv_cache, split.activations, split.scratch);
    for (size_t i = 0; i < samples.size(); ++i) {
      std::printf("%s{\"test\": \"%s\", \"cuda_graph\": \"%s\", \"tokens_per_s\": %.2f, \"sd\": %.2f, "
                  "\"ttft_ms\": %.3f}",
                  i ? ", " : "", samples[i].test.c_str(), samples[i].graph.c_str(), samples[i].mean, samples[i].sd,
                  samples[i].ttft_ms);
    }
    std::printf("]}\n");
    return absl::OkStatus();
  }
  std::printf("| model | card | backend | test | cuda graph | t/s | first token | roofline |\n"
              "|---|---|---|---|---|---|---|---|\n");
  for (const Sample& s : samples) {
    const bool decode = s.test.rfind("tg", 0) == 0;
    std::printf("| %s | %s | %s | %s | %s | %.2f ± %.2f | %s | %s |\n", label.c_str(), card.c_str(),
                backend == Backend::kCuda ? "cuda" : "cpu", s.test.c_str(), s.graph.c_str(), s.mean, s.sd,
                decode ? "" : absl::StrFormat("%.1f ms", s.ttft_ms).c_str(),
                decode && roofline_tps > 0 ? absl::StrFormat("%.0f%%", 100 * s.mean / roofline_tps).c_str() : "");
  }
  if (backend == Backend::kCuda) {
    double on = 0, off = 0;
    for (const Sample& s : samples) {
      if (s.graph == "on") on = s.mean;
      if (s.graph == "off") off = s.mean;
    }
    std::printf("\ncopy bandwidth %.0f GB/s (read + write); decode reads %.1f MB of weights per token -> roofline "
                "%.0f tokens/s\n",
                bandwidth / 1e9, weight_bytes / 1e6, roofline_tps);
    if (on > 0 && off > 0) {
      std::printf("CUDA graph gain: %.2fx (%.0f vs %.0f tokens/s, %zu graph nodes)\n", on / off, on, off,
                  graph_nodes);
    }
    std::printf("device memory: %.1f MB used at peak = weights %.1f MB + KV cache %.1f MB + activations %.1f MB + "
                "scratch %.1f MB (+ %.1f MB outside the executor's allocations; %.1f MB in use right after loading)\n",
                peak_used / 1e6, split.weights / 1e6, split.kv_cache / 1e6, split.activations / 1e6,
                split.scratch / 1e6,
                (peak_used - split.weights - split.kv_cache - split.activations - split.scratch) / 1e6,
                used_at_load / 1e6);
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace ggrt

int main(int argc, char** argv) { return ggrt::RunTool(ggrt::Main, argc, argv); }
