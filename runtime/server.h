// An OpenAI-compatible HTTP server over the batching engine: /v1/completions and /v1/chat/completions
// (streamed as server-sent events or not), /v1/models, /health and Prometheus /metrics.
//
// One scheduler thread owns the engine: requests join the running batch at its next step and leave it as
// soon as they finish, hit a stop string or their client goes away (their KV pages return to the pool at
// once). Requests beyond the engine's batch wait in a bounded queue; a full queue answers 503. HTTP handler
// threads (one per running or queued request, plus a few) only parse, wait for their request's tokens, and
// write. Bad requests get OpenAI-style JSON
// errors ({"error": {"message", "type", "param", "code"}}) and never reach the engine.
#ifndef GGRT_RUNTIME_SERVER_H_
#define GGRT_RUNTIME_SERVER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "loader/chat_template.h"
#include "runtime/engine.h"
#include "runtime/model.h"

namespace httplib {
class Server;
}

namespace ggrt {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                     // 0: any free port (tests).
  std::string model_name = "ggrt";     // The id /v1/models lists and requests may name.
  int max_queue = 256;                 // Requests waiting for a place in the batch before 503s.
  int64_t max_body_bytes = 1 << 20;    // Larger bodies get 413.
  std::string api_key;                 // When set, requests other than /health need "Authorization: Bearer KEY".
  std::string cors_origin;             // When set ("*" or an origin), browsers on it may call the API.
  EngineOptions engine;
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();

  // Binds the listening socket; the port (useful with port 0). /health answers 503 until Attach.
  absl::StatusOr<int> Bind();
  // Serves on the bound socket until Shutdown; returns when the listener has stopped.
  void Serve();
  // Hands the server its model (the executor must return logits: the server samples per request) and
  // starts the scheduler.
  absl::Status Attach(std::unique_ptr<LoadedModel> model);
  // Stops admitting requests (they get 503), lets the in-flight ones finish, stops the listener and the
  // scheduler. Safe to call from any thread, more than once.
  void Shutdown();

 private:
  struct Request;
  struct Metrics {
    std::atomic<int64_t> requests{0}, failed{0}, prompt_tokens{0}, generated_tokens{0}, steps{0};
    std::atomic<int64_t> step_nanos{0};
  };

  void Routes();
  void SchedulerLoop();
  // Queues a request for the scheduler; false when the queue is full or the server is stopping.
  bool Submit(const std::shared_ptr<Request>& r);
  std::string MetricsText() const;

  ServerOptions options_;
  std::unique_ptr<httplib::Server> http_;
  std::unique_ptr<LoadedModel> model_;
  std::unique_ptr<Engine> engine_;
  ChatTemplate chat_{};
  std::atomic<bool> ready_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> serving_{false};  // Serve is between its start and its return.
  std::atomic<int> in_flight_{0};  // Requests between parse and their last byte.
  std::thread scheduler_;

  mutable std::mutex mu_;  // Guards pending_, and the engine's counters read by /metrics.
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Request>> pending_;
  int running_ = 0, waiting_ = 0, kv_used_ = 0, kv_total_ = 0;  // Engine state after the last step.
  int admitting_ = 0;  // Requests taken from pending_ and not yet counted in waiting_.
  EngineCounters engine_counters_;
  Metrics metrics_;
  // The requests' event queues (Request::events, error, done): the scheduler fills them after each step and
  // wakes every handler at once; each takes its own.
  std::mutex events_mu_;
  std::condition_variable events_cv_;
  std::atomic<int64_t> next_id_{1};
};

}  // namespace ggrt

#endif  // GGRT_RUNTIME_SERVER_H_
