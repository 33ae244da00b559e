// OpenAI-compatible HTTP server (runtime/server.h): continuous batching over the engine.
//   server -m FILE.gguf [--host 127.0.0.1] [--port 8080] [--parallel N] [--ctx-size N] [--backend auto|cpu|cuda]
//          [--kv-pool N] [--queue N] [--alias NAME] [--cache-type f16|f32] [--no-fuse]
//          [-b|--batch-size N] [-ub|--ubatch-size N] [--api-key KEY | --api-key-file FILE] [--cors-origin O]
// -b: prompt tokens prefilled per engine step (default 1024): more admits new requests sooner, fewer keeps the
// running streams' inter-token latency lower; the chunks of several prompts run as one batched prefill. -ub:
// the chunk a prompt is prefilled in (default 512).
// /health answers 503 while the model loads. Ctrl-C or SIGTERM finishes the in-flight responses and exits; a
// second one exits at once.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "runtime/model.h"
#include "runtime/server.h"
#include "tools/flags.h"

namespace ggrt {
namespace {

constexpr char kUsage[] =
    "usage: server -m FILE.gguf [--host 127.0.0.1] [--port 8080] [--parallel N] [--ctx-size N] "
    "[--backend auto|cpu|cuda] [--kv-pool N] [--queue N] [--alias NAME] [--cache-type f16|f32] [--no-fuse] "
    "[-b|--batch-size N] [-ub|--ubatch-size N] [--api-key KEY | --api-key-file FILE] [--cors-origin ORIGIN|*]";

// The key from --api-key, or from the first line of --api-key-file (which keeps it out of the process list).
absl::Status ApiKeyFromFlags(const Flags& flags, std::string* key) {
  if (flags.Has("--api-key") && flags.Has("--api-key-file")) {
    return absl::InvalidArgumentError("--api-key and --api-key-file: give one");
  }
  if (flags.Has("--api-key-file")) {
    const std::string path = flags.Get("--api-key-file");
    std::ifstream in(path);
    if (!in) return absl::NotFoundError(absl::StrCat("--api-key-file: cannot read '", path, "'"));
    std::getline(in, *key);
  } else {
    *key = flags.Get("--api-key", "");
  }
  if (flags.Has("--api-key") || flags.Has("--api-key-file")) {
    if (key->empty()) return absl::InvalidArgumentError("--api-key: the key is empty");
    for (const char c : *key) {
      if (c < 0x21 || c > 0x7e) {
        return absl::InvalidArgumentError("--api-key: the key must be printable ASCII without spaces");
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Main(int argc, char** argv) {
  Flags flags;
  RETURN_IF_ERROR(flags.Parse(argc, argv,
                              WithCacheTypeFlags({{{"-m", "--model"}}, {{"--host"}}, {{"--port"}}, {{"-np", "--parallel"}},
                                                  {{"-c", "--ctx-size"}}, {{"--backend"}}, {{"--queue"}}, {{"-a", "--alias"}},
                                                  {{"--kv-pool"}}, {{"--no-fuse"}, false}, {{"-b", "--batch-size"}},
                                                  {{"-ub", "--ubatch-size"}}, {{"--api-key"}},
                                                  {{"--api-key-file"}}, {{"--cors-origin"}}})));
  RET_CHECK(flags.Has("--model"), kUsage);
  ServerOptions options;
  options.host = flags.Get("--host", "127.0.0.1");
  RETURN_IF_ERROR(flags.GetInt("--port", &options.port, 0, 65535));
  RETURN_IF_ERROR(flags.GetInt("--parallel", &options.engine.max_batch, 1, kMaxBatch));
  RETURN_IF_ERROR(flags.GetInt("--queue", &options.max_queue, 1, 1 << 20));
  // Two chunks of prompts a step: with batched prefill, 64 clients of 128-token prompts on an H200 get 22.6k
  // tokens/s and a 12 ms inter-token p99 at 1024, 21.4k and 8 ms at 512 (PERF_NOTES "Serving, session 11").
  options.engine.prefill_budget = 1024;
  RETURN_IF_ERROR(flags.GetInt("--batch-size", &options.engine.prefill_budget, 1, kMaxContext));
  RETURN_IF_ERROR(flags.GetInt("--ubatch-size", &options.engine.prefill_chunk, 1, kMaxContext));
  RETURN_IF_ERROR(ApiKeyFromFlags(flags, &options.api_key));
  options.cors_origin = flags.Get("--cors-origin", "");
  if (flags.Has("--cors-origin") && (options.cors_origin.empty() ||
                                     options.cors_origin.find_first_of(" \t\r\n,") != std::string::npos)) {
    return absl::InvalidArgumentError("--cors-origin: one origin (e.g. http://localhost:3000) or '*'");
  }
  const std::string path = flags.Get("--model");
  options.model_name = flags.Get("--alias", path.substr(path.find_last_of('/') + 1));

  ModelOptions model_options{.path = path};
  ASSIGN_OR_RETURN(model_options.backend, BackendFromName(flags.Get("--backend", "auto")));
  RETURN_IF_ERROR(flags.GetInt("--ctx-size", &model_options.ctx_size, 0, kMaxContext));
  ASSIGN_OR_RETURN(model_options.kv_type, CacheTypeFromFlags(flags));
  ASSIGN_OR_RETURN(model_options.passes, PassSelectionFromFlags(flags.Has("--no-fuse"), std::nullopt, std::nullopt));
  // Positions in the KV pool all sequences share; by default every sequence may fill the whole context.
  int kv_pool = 0;
  RETURN_IF_ERROR(flags.GetInt("--kv-pool", &kv_pool, 1, kMaxContext));

  // SIGINT and SIGTERM are taken by one thread (sigwait) rather than a handler, so shutdown runs as code.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Server server(options);
  ASSIGN_OR_RETURN(const int port, server.Bind());
  std::thread http([&] { server.Serve(); });
  std::fprintf(stderr, "listening on http://%s:%d (loading %s)\n", options.host.c_str(), port, path.c_str());
  // The first signal shuts down gracefully (on a thread of its own, as the in-flight responses may take a
  // while); a second one exits at once. `done` ends the watcher once the listener has stopped.
  std::atomic<bool> done{false};
  std::thread stopper;
  std::thread watcher([&] {
    for (bool first = true;; first = false) {
      int sig = 0;
      sigwait(&signals, &sig);
      if (done) return;
      if (!first) {
        std::fprintf(stderr, "signal %d again: exiting without finishing the in-flight requests\n", sig);
        std::_Exit(128 + sig);
      }
      std::fprintf(stderr, "signal %d: finishing in-flight requests (again to exit at once)\n", sig);
      stopper = std::thread([&] { server.Shutdown(); });
    }
  });

  absl::Status attached = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(LoadedModel model, LoadModel(model_options));
    if (!model.note.empty()) std::fprintf(stderr, "note: %s\n", model.note.c_str());
    if (options.engine.max_batch > 1 || kv_pool > 0) {
      model_options.ctx_size = model.ctx_size;
      model_options.kv_pool_tokens =
          kv_pool > 0 ? kv_pool : static_cast<int64_t>(model.ctx_size) * options.engine.max_batch;
      model = LoadedModel{};  // Free the first executor's memory before the pooled one is made.
      ASSIGN_OR_RETURN(model, LoadModel(model_options));
    }
    std::fprintf(stderr, "ready: %s, context %d, %d sequences at once, backend %s\n", options.model_name.c_str(),
                 model.ctx_size, options.engine.max_batch, std::string(model.executor->name()).c_str());
    return server.Attach(std::make_unique<LoadedModel>(std::move(model)));
  }();
  if (!attached.ok()) server.Shutdown();
  http.join();
  done = true;
  pthread_kill(watcher.native_handle(), SIGTERM);  // Ends the watcher's wait.
  watcher.join();
  if (stopper.joinable()) stopper.join();
  return attached;
}

}  // namespace
}  // namespace ggrt

int main(int argc, char** argv) { return ggrt::RunTool(ggrt::Main, argc, argv); }
