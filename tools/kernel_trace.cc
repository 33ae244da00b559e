#include "tools/kernel_trace.h"

#include <cxxabi.h>
#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include <cuda_runtime_api.h>
#include <cupti_activity.h>
#include <cupti_result.h>
#include <cupti_version.h>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "base/status_macros.h"
#include "ops/cuda/cuda_status.h"

namespace ggrt {
namespace {

// The CUPTI entry points used, resolved from the library at run time.
struct Cupti {
  decltype(&cuptiGetVersion) get_version;
  decltype(&cuptiGetResultString) result_string;
  decltype(&cuptiActivityRegisterCallbacks) register_callbacks;
  decltype(&cuptiActivityEnable) enable;
  decltype(&cuptiActivityDisable) disable;
  decltype(&cuptiActivityFlushAll) flush_all;
  decltype(&cuptiActivityGetNextRecord) next_record;
};

absl::StatusOr<const Cupti*> LoadCupti() {
  static Cupti cupti;
  static absl::Status loaded = [] {
    std::vector<std::string> paths;
    if (const char* env = std::getenv("GGRT_CUPTI")) paths.push_back(env);
    paths.push_back("libcupti.so.13");
    paths.push_back("/usr/local/cuda/lib64/libcupti.so.13");
    std::string errors;
    void* lib = nullptr;
    for (const std::string& path : paths) {
      lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (lib != nullptr) break;
      const char* why = dlerror();
      absl::StrAppend(&errors, "; ", why != nullptr ? why : path);
    }
    if (lib == nullptr) {
      return absl::NotFoundError(absl::StrCat("cannot load libcupti (set GGRT_CUPTI to its path)", errors));
    }
    bool all = true;
    auto sym = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
      all = all && fn != nullptr;
    };
    sym(cupti.get_version, "cuptiGetVersion");
    sym(cupti.result_string, "cuptiGetResultString");
    sym(cupti.register_callbacks, "cuptiActivityRegisterCallbacks");
    sym(cupti.enable, "cuptiActivityEnable");
    sym(cupti.disable, "cuptiActivityDisable");
    sym(cupti.flush_all, "cuptiActivityFlushAll");
    sym(cupti.next_record, "cuptiActivityGetNextRecord");
    if (!all) return absl::NotFoundError("libcupti lacks an activity API entry point");
    // The kernel records are read as this header's CUpti_ActivityKernel10: a library of another minor
    // version may write another layout.
    uint32_t version = 0;
    if (cupti.get_version(&version) != CUPTI_SUCCESS || version / 100 != CUPTI_API_VERSION / 100) {
      return absl::FailedPreconditionError(absl::StrCat("libcupti has API version ", version, "; built against ",
                                                        CUPTI_API_VERSION, " (kernel records may differ)"));
    }
    return absl::OkStatus();
  }();
  if (!loaded.ok()) return loaded;
  return &cupti;
}

absl::Status CuptiStatus(const Cupti& cupti, CUptiResult r, const char* what) {
  if (r == CUPTI_SUCCESS) return absl::OkStatus();
  const char* text = "?";
  cupti.result_string(r, &text);
  return absl::InternalError(absl::StrCat(what, ": ", text));
}

std::string Demangle(const char* name) {
  int status = 0;
  char* plain = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string s = status == 0 && plain != nullptr ? plain : name;
  std::free(plain);
  return absl::StrReplaceAll(s, {{"ggrt::cuda::(anonymous namespace)::", ""}, {"ggrt::cuda::", ""}});
}

// CUPTI's buffer callbacks take no user data: the active trace's spans, guarded.
std::mutex sink_mutex;
std::vector<KernelSpan>* sink = nullptr;
constexpr size_t kBufferBytes = size_t{8} << 20;

void CUPTIAPI BufferRequested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(8, kBufferBytes));
  *size = *buffer != nullptr ? kBufferBytes : 0;
  *max_records = 0;  // As many as fit.
}

void CUPTIAPI BufferCompleted(CUcontext, uint32_t, uint8_t* buffer, size_t, size_t valid) {
  const absl::StatusOr<const Cupti*> cupti = LoadCupti();
  CUpti_Activity* record = nullptr;
  std::lock_guard<std::mutex> lock(sink_mutex);
  while (cupti.ok() && (*cupti)->next_record(buffer, valid, &record) == CUPTI_SUCCESS) {
    if (sink == nullptr || record->kind != CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) continue;
    const auto* k = reinterpret_cast<const CUpti_ActivityKernel10*>(record);
    sink->push_back({Demangle(k->name), k->start, k->end, k->correlationId,
                     static_cast<int64_t>(k->gridX) * k->gridY * k->gridZ,
                     static_cast<int>(k->blockX * k->blockY * k->blockZ), k->registersPerThread,
                     static_cast<int>(k->staticSharedMemory + k->dynamicSharedMemory)});
  }
  std::free(buffer);
}

}  // namespace

absl::StatusOr<std::unique_ptr<KernelTrace>> KernelTrace::Start() {
  ASSIGN_OR_RETURN(const Cupti* cupti, LoadCupti());
  CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize());  // Before the sink exists: a failure leaves no trace running.
  {
    std::lock_guard<std::mutex> lock(sink_mutex);
    if (sink != nullptr) return absl::FailedPreconditionError("a kernel trace is already running");
    sink = new std::vector<KernelSpan>;
  }
  absl::Status s = CuptiStatus(*cupti, cupti->register_callbacks(BufferRequested, BufferCompleted),
                               "cuptiActivityRegisterCallbacks");
  if (s.ok()) s = CuptiStatus(*cupti, cupti->enable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL), "cuptiActivityEnable");
  if (!s.ok()) {
    std::lock_guard<std::mutex> lock(sink_mutex);
    delete sink;
    sink = nullptr;
    return s;
  }
  return std::unique_ptr<KernelTrace>(new KernelTrace);
}

KernelTrace::~KernelTrace() {
  if (active_) Stop().IgnoreError();
}

absl::StatusOr<std::vector<KernelSpan>> KernelTrace::Stop() {
  if (!active_) return absl::FailedPreconditionError("the kernel trace was stopped already");
  active_ = false;
  ASSIGN_OR_RETURN(const Cupti* cupti, LoadCupti());
  const cudaError_t synced = cudaDeviceSynchronize();
  absl::Status s = CuptiStatus(*cupti, cupti->flush_all(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED), "cuptiActivityFlushAll");
  const absl::Status disabled =
      CuptiStatus(*cupti, cupti->disable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL), "cuptiActivityDisable");
  std::vector<KernelSpan> spans;
  {
    std::lock_guard<std::mutex> lock(sink_mutex);
    spans = std::move(*sink);
    delete sink;
    sink = nullptr;
  }
  CUDA_RETURN_IF_ERROR(synced);
  RETURN_IF_ERROR(s);
  RETURN_IF_ERROR(disabled);
  std::sort(spans.begin(), spans.end(), [](const KernelSpan& a, const KernelSpan& b) { return a.start_ns < b.start_ns; });
  return spans;
}

int BlockRegisters(int threads, int registers) {
  const int warps = (threads + 31) / 32;
  return warps * ((registers * 32 + 255) / 256 * 256);
}

absl::StatusOr<std::string> StepTable(const std::vector<KernelSpan>& spans, int steps, int sms) {
  if (steps <= 0 || spans.empty() || spans.size() % steps != 0) {
    return absl::InvalidArgumentError(absl::StrCat(spans.size(), " kernels do not split into ", steps, " steps"));
  }
  const size_t per = spans.size() / steps;
  for (size_t i = per; i < spans.size(); ++i) {
    if (spans[i].name != spans[i % per].name) {
      return absl::InvalidArgumentError(absl::StrCat("step ", i / per, " launches ", spans[i].name, " as kernel ",
                                                     i % per, ", step 0 ", spans[i % per].name));
    }
  }
  // Per position: summed duration and gap before it (the first kernel of step 0 has no predecessor), then
  // the means a step.
  std::vector<double> busy(per), gap(per);
  std::vector<int> gaps(per);
  for (size_t i = 0; i < spans.size(); ++i) {
    busy[i % per] += 1e-3 * (spans[i].end_ns - spans[i].start_ns);
    if (i > 0) {
      gap[i % per] += 1e-3 * (static_cast<double>(spans[i].start_ns) - static_cast<double>(spans[i - 1].end_ns));
      ++gaps[i % per];
    }
  }
  for (size_t i = 0; i < per; ++i) {
    busy[i] /= steps;
    if (gaps[i] > 0) gap[i] /= gaps[i];
  }
  struct ByName {
    double us = 0, gap_us = 0;
    int launches = 0;
  };
  std::map<std::string, ByName> names;
  double step_busy = 0, step_gap = 0;
  for (size_t i = 0; i < per; ++i) {
    ByName& n = names[spans[i].name];
    n.us += busy[i];
    n.gap_us += gap[i];
    ++n.launches;
    step_busy += busy[i];
    step_gap += gap[i];
  }
  const double span_us = 1e-3 * (spans.back().end_ns - spans.front().start_ns) / steps;
  std::string out = absl::StrFormat(
      "%d steps of %d kernels: %.1f us a step from first start to last end; kernels %.1f us, gaps %.1f us "
      "(negative: overlap)\n\n| kernel | us a step | launches | gap before, us a step | adds to the step, us |\n"
      "|---|---|---|---|---|\n",
      steps, per, span_us, step_busy, step_gap);
  std::vector<std::pair<std::string, ByName>> sorted(names.begin(), names.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second.us > b.second.us; });
  for (const auto& [name, n] : sorted) {
    absl::StrAppendFormat(&out, "| %s | %.2f | %d | %.2f | %.2f |\n", name.substr(0, 120), n.us, n.launches, n.gap_us,
                          n.us + n.gap_us);
  }
  const bool shapes = sms > 0 && std::all_of(spans.begin(), spans.begin() + per, [](const KernelSpan& k) {
    return k.blocks > 0 && k.threads > 0 && k.registers > 0;
  });
  absl::StrAppend(&out, "\n| # | kernel | us | gap before, us | adds, us |",
                  shapes ? " blocks x threads | registers | shared KB | SMs where a block fits the registers the "
                           "previous kernel's blocks leave |\n|---|---|---|---|---|---|---|---|---|\n"
                         : "\n|---|---|---|---|---|\n");
  for (size_t i = 0; i < per; ++i) {
    const bool has_gap = gaps[i] > 0;
    absl::StrAppendFormat(&out, "| %d | %s | %.2f | %s | %s |", i, spans[i].name.substr(0, 120), busy[i],
                          has_gap ? absl::StrFormat("%.2f", gap[i]) : "-",
                          has_gap ? absl::StrFormat("%.2f", busy[i] + gap[i]) : "-");
    if (shapes) {
      // The previous kernel's blocks spread evenly: `fewer` on some SMs, one more on `busier` of them.
      constexpr int kFile = 65536;
      const KernelSpan& k = spans[i];
      const KernelSpan& prev = spans[(i + per - 1) % per];
      const int prev_block = BlockRegisters(prev.threads, prev.registers);
      const int block = BlockRegisters(k.threads, k.registers);
      const int64_t most = kFile / prev_block;
      const int64_t fewer = std::min(prev.blocks / sms, most), busier = fewer < most ? prev.blocks % sms : 0;
      const auto fits = [&](int64_t resident) { return resident * prev_block + block <= kFile; };
      const int64_t where = fits(fewer + 1) ? sms : fits(fewer) ? sms - busier : 0;
      absl::StrAppendFormat(&out, " %d x %d | %d | %.1f | %d of %d (%d-%d x %.1fK + %.1fK) |", k.blocks, k.threads,
                            k.registers, k.shared_bytes / 1024.0, where, sms, fewer, fewer + (busier > 0),
                            prev_block / 1024.0, block / 1024.0);
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

absl::StatusOr<RepeatedLaunches> MostRepeatedLaunch(const std::vector<KernelSpan>& spans) {
  // Each launch's kernels, launches in order of their first kernel.
  std::vector<std::vector<size_t>> launches;
  absl::flat_hash_map<uint32_t, size_t> index;
  for (size_t i = 0; i < spans.size(); ++i) {
    const auto [it, added] = index.try_emplace(spans[i].launch, launches.size());
    if (added) launches.emplace_back();
    launches[it->second].push_back(i);
  }
  auto names = [&](const std::vector<size_t>& launch) {
    std::vector<absl::string_view> n;
    for (size_t i : launch) n.push_back(spans[i].name);
    return n;
  };
  std::map<std::vector<absl::string_view>, int> counts;
  for (const auto& launch : launches) {
    if (launch.size() > 1) ++counts[names(launch)];
  }
  const std::vector<absl::string_view>* best = nullptr;
  int best_count = 0;
  for (const auto& [sequence, count] : counts) {
    if (count > best_count || (count == best_count && sequence.size() > best->size())) {
      best = &sequence;
      best_count = count;
    }
  }
  if (best == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("no launch of the ", spans.size(), " kernels traced ran more than one kernel"));
  }
  RepeatedLaunches out;
  for (const auto& launch : launches) {
    if (names(launch) == *best) {
      for (size_t i : launch) out.spans.push_back(spans[i]);
      ++out.steps;
    } else {
      ++out.other_launches;
      out.other_kernels += static_cast<int>(launch.size());
    }
  }
  return out;
}

}  // namespace ggrt
