#include "runtime/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <limits>
#include <mutex>
#include <random>
#include <system_error>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "base/status_macros.h"
#include "httplib.h"
#include "loader/tokenizer.h"
#include "nlohmann/json.hpp"

namespace ggrt {

using json = nlohmann::json;

// One request's channel between its HTTP handler and the scheduler. events, error and done are guarded by
// Server::events_mu_.
struct Server::Request {
  std::vector<int32_t> prompt;
  SequenceOptions options;
  std::deque<SequenceEvent> events;  // Tokens and the finish, in order.
  absl::Status error;                // Set (with done) when the engine refused or failed it.
  bool done = false;
  std::atomic<bool> cancel{false};   // Set by the handler: a stop string matched, or the client left.
};

namespace {

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// JSON text; invalid UTF-8 (generated text can hold any bytes) is replaced rather than thrown on.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// An OpenAI-style error body.
std::string ErrorBody(const std::string& message, const std::string& type, const std::string& param = "",
                      const std::string& code = "") {
  json e = {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}};
  if (!param.empty()) e["param"] = param;
  if (!code.empty()) e["code"] = code;
  return Dump(json{{"error", e}});
}

void SendError(httplib::Response& res, int status, const std::string& message, const std::string& type,
               const std::string& param = "", const std::string& code = "") {
  res.status = status;
  res.set_content(ErrorBody(message, type, param, code), "application/json");
}

// The generated text of one request, decoded token by token, and released as soon as it can no longer
// change: never half a UTF-8 character (the decoder holds it back), never a prefix of a stop string that the
// next token might complete.
class TextStream {
 public:
  // A prompt always precedes the generated tokens (an empty one is refused), so the first one's SPM leading
  // space is kept: the prompt and the completion read as the model's one text.
  TextStream(const Tokenizer& tokenizer, std::vector<std::string> stops)
      : decoder_(tokenizer, /*at_start=*/false), stops_(std::move(stops)) {}

  // Adds a token; the text now safe to send.
  std::string Add(int32_t id) {
    ++tokens_;
    text_ += decoder_.Push(id);
    for (const std::string& s : stops_) {
      const size_t from = sent_ >= s.size() ? sent_ - s.size() + 1 : 0;
      const size_t at = text_.find(s, from);
      if (at != std::string::npos && (stop_at_ == std::string::npos || at < stop_at_)) stop_at_ = at;
    }
    if (stopped()) return Release(stop_at_);
    size_t safe = text_.size();
    for (const std::string& s : stops_) {
      for (size_t k = std::min(s.size() - 1, text_.size()); k > 0; --k) {
        if (text_.compare(text_.size() - k, k, s, 0, k) == 0) {
          safe = std::min(safe, text_.size() - k);
          break;
        }
      }
    }
    return Release(safe);
  }
  // At the end: whatever was held back (the text is final).
  std::string Flush() {
    if (stopped()) return "";
    text_ += decoder_.Flush();
    return Release(text_.size());
  }
  bool stopped() const { return stop_at_ != std::string::npos; }
  int tokens() const { return tokens_; }

 private:
  std::string Release(size_t upto) {
    if (upto <= sent_) return "";
    std::string out = text_.substr(sent_, upto - sent_);
    sent_ = upto;
    return out;
  }

  TokenStreamDecoder decoder_;
  std::vector<std::string> stops_;
  int tokens_ = 0;
  std::string text_;
  size_t sent_ = 0;
  size_t stop_at_ = std::string::npos;
};

// The connections' threads. httplib's ThreadPool starts all of them at once, each reserving the default 8 MB
// of stack (2.6 GB of address space for --parallel 64 --queue 256), and aborts the process when the system
// refuses one (an address-space limit, a container's thread cap). This pool starts a few and adds one when a
// connection would otherwise wait, up to `max_threads`; a thread the system refuses only leaves the pool
// smaller, and with none at all a connection is served on the listener's thread.
class RequestThreads : public httplib::TaskQueue {
 public:
  RequestThreads(int initial, int max_threads) : max_(max_threads) {
    std::unique_lock<std::mutex> lock(mu_);
    for (int i = 0; i < initial && Grow(); ++i) {
    }
  }
  ~RequestThreads() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (jobs_.size() + 1 > static_cast<size_t>(idle_) && threads_.size() < static_cast<size_t>(max_)) Grow();
    if (threads_.empty()) {
      lock.unlock();
      fn();
      return;
    }
    jobs_.push_back(std::move(fn));
    cv_.notify_one();
  }
  // Lets the queued connections finish, then joins every thread.
  void shutdown() override {
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> lock(mu_);
      shutdown_ = true;
      threads.swap(threads_);
    }
    cv_.notify_all();
    for (std::thread& t : threads) t.join();
  }

 private:
  bool Grow() {  // mu_ held.
    try {
      threads_.emplace_back([this] { Work(); });
      return true;
    } catch (const std::system_error&) {
      return false;
    }
  }
  void Work() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      ++idle_;
      cv_.wait(lock, [&] { return !jobs_.empty() || shutdown_; });
      --idle_;
      if (jobs_.empty()) return;
      std::function<void()> fn = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      fn();
      lock.lock();
    }
  }

  const int max_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> threads_;
  std::deque<std::function<void()>> jobs_;
  int idle_ = 0;
  bool shutdown_ = false;
};

std::string NoSuchModel(const std::string& id, const std::string& served) {
  return absl::StrCat("the model '", id, "' does not exist; this server has '", served, "'");
}

// A request's parameters, checked. Errors carry the HTTP status and the parameter at fault.
struct Params {
  bool chat = false;
  std::string prompt;                 // Completions: text, or
  std::vector<int32_t> prompt_ids;    // token ids (then `prompt` is empty).
  std::vector<ChatMessage> messages;  // Chat.
  int max_tokens = -1;                // -1: the default (16 for completions, the rest of the context for chat).
  SamplerOptions sampler{.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f};
  bool seeded = false;
  std::vector<std::string> stops;
  bool stream = false;
  bool usage_chunk = false;  // stream_options.include_usage: usage in a chunk of its own, null in the others.
};

struct ParseError {
  int status;
  std::string message, param, code, type = "invalid_request_error";
};

// Reads the body into Params; nullopt and *error when it is not a valid request.
std::optional<Params> ParseParams(const std::string& body, bool chat, const std::string& model_name,
                                  ParseError* error) {
  auto fail = [&](int status, std::string message, std::string param = "", std::string code = "") {
    *error = {status, std::move(message), std::move(param), std::move(code)};
    return std::nullopt;
  };
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return fail(400, "the body is not valid JSON");
  if (!j.is_object()) return fail(400, "the body must be a JSON object");
  Params p;
  p.chat = chat;
  if (j.contains("model")) {
    if (!j["model"].is_string()) return fail(400, "'model' must be a string", "model");
    if (j["model"] != model_name) return fail(404, NoSuchModel(j["model"], model_name), "model", "model_not_found");
  }
  if (chat) {
    if (!j.contains("messages") || !j["messages"].is_array() || j["messages"].empty()) {
      return fail(400, "'messages' must be a non-empty array", "messages");
    }
    for (const json& m : j["messages"]) {
      if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") ||
          !(m["content"].is_string() || m["content"].is_array())) {
        return fail(400, "each message must be an object with string 'role' and 'content'", "messages");
      }
      std::string role = m["role"];
      if (role == "developer") role = "system";  // The newer API's name for the system message.
      if (role != "system" && role != "user" && role != "assistant") {
        return fail(400, absl::StrCat("unknown message role '", role, "' (system, developer, user or assistant)"),
                    "messages");
      }
      // Content as a string, or as the newer API's list of parts, of which text parts (joined by newlines)
      // are the ones a text model can take.
      std::string content;
      if (m["content"].is_string()) {
        content = m["content"];
      } else {
        for (const json& part : m["content"]) {
          if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
              !part["text"].is_string()) {
            return fail(400, "a message's content parts must be {\"type\": \"text\", \"text\": string}",
                        "messages");
          }
          if (!content.empty()) content += "\n";
          content += part["text"].get<std::string>();
        }
      }
      p.messages.push_back({role, std::move(content)});
    }
  } else {
    // A string, or as OpenAI also takes it, a list: of one string, of token ids, or of one list of token ids.
    // More than one prompt a request is refused, as 'n' > 1 is.
    const json* prompt = j.contains("prompt") ? &j["prompt"] : nullptr;
    const char* kForms = "'prompt' must be a string, a list of token ids, or a list of one of them";
    if (prompt != nullptr && prompt->is_array() && !prompt->empty() &&
        ((*prompt)[0].is_string() || (*prompt)[0].is_array())) {
      if (prompt->size() > 1) return fail(400, "one prompt per request: 'prompt' lists several", "prompt");
      prompt = &(*prompt)[0];
    }
    if (prompt == nullptr || !(prompt->is_string() || prompt->is_array())) return fail(400, kForms, "prompt");
    if (prompt->is_string()) {
      p.prompt = *prompt;
      if (p.prompt.empty()) return fail(400, "'prompt' is empty", "prompt");
    } else {
      if (prompt->empty()) return fail(400, "'prompt' is empty", "prompt");
      for (const json& id : *prompt) {
        if (!id.is_number_integer() || id < 0 || id > std::numeric_limits<int32_t>::max()) {
          return fail(400, kForms, "prompt");
        }
        p.prompt_ids.push_back(id.get<int32_t>());
      }
    }
  }
  auto number = [&](const char* name, float lo, float hi, float* out) -> bool {
    if (!j.contains(name) || j[name].is_null()) return true;
    if (!j[name].is_number()) return false;
    const double v = j[name];
    if (!(v >= lo && v <= hi)) return false;
    *out = static_cast<float>(v);
    return true;
  };
  // max_completion_tokens is the chat API's newer name for the same limit.
  for (const char* name : {"max_tokens", "max_completion_tokens"}) {
    if (!j.contains(name) || j[name].is_null()) continue;
    if (!j[name].is_number_integer()) return fail(400, absl::StrCat("'", name, "' must be an integer"), name);
    const int64_t v = j[name];
    if (v < 1) return fail(400, absl::StrCat("'", name, "' is ", v, "; it must be at least 1"), name);
    const int limit = static_cast<int>(std::min<int64_t>(v, 1 << 30));
    if (p.max_tokens != -1 && p.max_tokens != limit) {
      return fail(400, "'max_tokens' and 'max_completion_tokens' disagree", name);
    }
    p.max_tokens = limit;
  }
  if (!number("temperature", 0.0f, 100.0f, &p.sampler.temperature)) {
    return fail(400, "'temperature' must be a number from 0 to 100", "temperature");
  }
  if (!number("top_p", 0.0f, 1.0f, &p.sampler.top_p)) return fail(400, "'top_p' must be a number from 0 to 1", "top_p");
  if (!number("min_p", 0.0f, 1.0f, &p.sampler.min_p)) return fail(400, "'min_p' must be a number from 0 to 1", "min_p");
  if (!number("repeat_penalty", 0.01f, 100.0f, &p.sampler.repeat_penalty)) {
    return fail(400, "'repeat_penalty' must be a number from 0.01 to 100", "repeat_penalty");
  }
  if (j.contains("top_k") && !j["top_k"].is_null()) {
    if (!j["top_k"].is_number_integer() || j["top_k"] < 0) return fail(400, "'top_k' must be an integer >= 0", "top_k");
    p.sampler.top_k = static_cast<int>(std::min<int64_t>(j["top_k"].get<int64_t>(), 1 << 30));
  }
  if (j.contains("seed") && !j["seed"].is_null()) {
    if (!j["seed"].is_number_integer()) return fail(400, "'seed' must be an integer", "seed");
    p.sampler.seed = static_cast<uint64_t>(j["seed"].get<int64_t>());
    p.seeded = true;
  }
  if (j.contains("stop") && !j["stop"].is_null()) {
    const json& s = j["stop"];
    if (s.is_string()) {
      p.stops.push_back(s);
    } else if (s.is_array() && s.size() <= 16) {
      for (const json& x : s) {
        if (!x.is_string()) return fail(400, "'stop' must be a string or an array of strings", "stop");
        p.stops.push_back(x);
      }
    } else {
      return fail(400, "'stop' must be a string or an array of at most 16 strings", "stop");
    }
    for (const std::string& x : p.stops) {
      if (x.empty()) return fail(400, "a stop string is empty", "stop");
    }
  }
  if (j.contains("stream") && !j["stream"].is_null()) {
    if (!j["stream"].is_boolean()) return fail(400, "'stream' must be a boolean", "stream");
    p.stream = j["stream"];
  }
  if (j.contains("stream_options") && !j["stream_options"].is_null()) {
    const json& o = j["stream_options"];
    if (!p.stream) return fail(400, "'stream_options' is only allowed with 'stream': true", "stream_options");
    if (!o.is_object() || (o.contains("include_usage") && !o["include_usage"].is_boolean())) {
      return fail(400, "'stream_options' must be an object whose 'include_usage' is a boolean", "stream_options");
    }
    p.usage_chunk = o.value("include_usage", false);
  }
  // OpenAI fields that would change what comes back and that this server does not implement: refused
  // unless they ask for the default, so that a client never gets silently other output than it asked for.
  // (Fields it does not know at all, and harmless ones such as 'user', are ignored.)
  for (const char* name : {"n", "best_of"}) {
    if (j.contains(name) && !j[name].is_null() && j[name] != 1) {
      return fail(400, absl::StrCat("'", name, "' must be 1: this server returns one choice per request"), name);
    }
  }
  for (const char* name : {"presence_penalty", "frequency_penalty"}) {
    if (j.contains(name) && !j[name].is_null() && j[name] != 0) {
      return fail(400, absl::StrCat("'", name, "' is not supported (use 'repeat_penalty')"), name);
    }
  }
  const auto unset = [&](const char* name) {
    if (!j.contains(name)) return true;
    const json& v = j[name];
    return v.is_null() || v == false || v == 0 || (v.is_string() && v.get<std::string>().empty()) ||
           ((v.is_object() || v.is_array()) && v.empty());
  };
  for (const char* name : {"logit_bias", "logprobs", "top_logprobs", "echo", "suffix", "tools", "functions"}) {
    if (!unset(name)) return fail(400, absl::StrCat("'", name, "' is not supported by this server"), name);
  }
  if (j.contains("response_format") && !j["response_format"].is_null() &&
      !(j["response_format"].is_object() && j["response_format"].value("type", "") == "text")) {
    return fail(400, "'response_format' other than {\"type\": \"text\"} is not supported by this server",
                "response_format");
  }
  return p;
}

}  // namespace

Server::Server(ServerOptions options) : options_(std::move(options)), http_(std::make_unique<httplib::Server>()) {
  http_->set_payload_max_length(options_.max_body_bytes);
  // A request holds its handler thread until its last byte: one per sequence in the batch and per queued
  // request, and a few for the quick endpoints (httplib's default is about one per core).
  const int threads = std::min(options_.engine.max_batch + options_.max_queue + 8, 4096);
  http_->new_task_queue = [threads] { return new RequestThreads(std::min(threads, 16), threads); };
  // A loaded machine may take seconds to get to a queued connection or a slow reader; httplib's 5 s would
  // drop them.
  http_->set_read_timeout(60, 0);
  http_->set_write_timeout(60, 0);
  Routes();
}

Server::~Server() {
  Shutdown();
  if (scheduler_.joinable()) scheduler_.join();
}

absl::StatusOr<int> Server::Bind() {
  const int port = options_.port == 0 ? http_->bind_to_any_port(options_.host)
                                      : (http_->bind_to_port(options_.host, options_.port) ? options_.port : -1);
  if (port < 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.host, ":", options_.port));
  }
  // Debian's cpp-httplib 0.11 listens with a compiled-in backlog of 5, which resets connections when many
  // clients connect at once (16 concurrent clients lose one every few runs). The listening socket is not
  // exposed, so it is found by its port and given the system's maximum backlog.
  for (int fd = 0; fd < 4096; ++fd) {
    int listening = 0;
    socklen_t size = sizeof(listening);
    sockaddr_storage address{};
    socklen_t address_size = sizeof(address);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) != 0 || !listening ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&address), &address_size) != 0) {
      continue;
    }
    const int bound = address.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&address)->sin6_port)
                                                     : ntohs(reinterpret_cast<sockaddr_in*>(&address)->sin_port);
    if (bound == port) listen(fd, SOMAXCONN);
  }
  return port;
}

void Server::Serve() {
  serving_ = true;
  // After serving_ is set, so that a Shutdown either sees serving_ or is seen here (both sequentially
  // consistent): no listener starts after Shutdown has returned.
  if (!stopping_) http_->listen_after_bind();
  serving_ = false;
}

absl::Status Server::Attach(std::unique_ptr<LoadedModel> model) {
  RET_CHECK(model != nullptr && model->executor != nullptr, "no model");
  RET_CHECK(!model->executor->greedy(), "the server samples per request: load the model without greedy graphs");
  model_ = std::move(model);
  const Tokenizer* tokenizer = model_->tokenizer.get();
  EngineOptions engine_options = options_.engine;
  engine_options.end_of_generation = [tokenizer](int32_t id) { return tokenizer->IsEndOfGeneration(id); };
  ASSIGN_OR_RETURN(engine_, Engine::Create(*model_->executor, engine_options));
  // A model without a chat template is chatted with through its messages' plain contents.
  absl::StatusOr<ChatTemplate> chat = DetectChatTemplate(*model_->file, *model_->tokenizer);
  chat_ = chat.ok() ? *chat
                    : ChatTemplate{ChatFormat::kRaw, "", absl::StrCat("no chat template: ", chat.status().message())};
  kv_total_ = engine_->pool().total_pages();
  scheduler_ = std::thread([this] { SchedulerLoop(); });
  ready_ = true;
  return absl::OkStatus();
}

void Server::Shutdown() {
  if (stopping_.exchange(true)) return;
  // In-flight requests finish; new ones get 503 meanwhile.
  while (in_flight_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_.notify_all();
  }
  // httplib's stop() acts only on a listener that is already running (and asserts when called twice on
  // one): a Shutdown right after Bind (a model that fails to load at once) came before Serve's thread had
  // started listening, which then listened for ever. So while Serve is under way, its listener is waited for.
  while (serving_ && !http_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (serving_) http_->stop();
}

bool Server::Submit(const std::shared_ptr<Request>& r) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_ || static_cast<int>(pending_.size()) + admitting_ + waiting_ >= options_.max_queue) return false;
  pending_.push_back(r);
  wake_.notify_all();
  return true;
}

void Server::SchedulerLoop() {
  absl::flat_hash_map<int64_t, std::shared_ptr<Request>> active;  // By sequence id.
  auto finish = [this](Request& r, absl::Status error) {
    {
      std::lock_guard<std::mutex> lock(events_mu_);
      r.error = std::move(error);
      r.done = true;
    }
    events_cv_.notify_all();
  };
  auto publish = [&] {  // The engine's state, for /metrics and the queue bound.
    std::lock_guard<std::mutex> lock(mu_);
    running_ = engine_->running();
    waiting_ = engine_->waiting();
    admitting_ = 0;
    kv_used_ = engine_->pool().used_pages();
    engine_counters_ = engine_->counters();
  };
  while (true) {
    std::deque<std::shared_ptr<Request>> incoming;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait_for(lock, std::chrono::milliseconds(active.empty() ? 100 : 0),
                     [&] { return !pending_.empty() || !active.empty() || stopping_; });
      if (stopping_ && pending_.empty() && active.empty()) return;
      incoming.swap(pending_);
      admitting_ = static_cast<int>(incoming.size());  // Still queued until publish() counts them.
    }
    for (auto& r : incoming) {
      absl::StatusOr<int64_t> id = engine_->Add(r->prompt, r->options);
      if (!id.ok()) {
        finish(*r, id.status());
        continue;
      }
      active[*id] = r;
    }
    if (!incoming.empty()) publish();
    // Stop strings and departed clients end their sequences now.
    for (auto it = active.begin(); it != active.end();) {
      if (it->second->cancel) {
        (void)engine_->Cancel(it->first);
        finish(*it->second, absl::OkStatus());
        active.erase(it++);
      } else {
        ++it;
      }
    }
    if (engine_->idle()) {
      publish();
      continue;
    }
    // Every request's events under one lock and one wake-up for all the handlers: a step's tokens cost the
    // scheduler one notification rather than one per request.
    auto deliver = [&](absl::Span<const SequenceEvent> events) {
      publish();  // Before any client hears that its request finished.
      {
        std::lock_guard<std::mutex> lock(events_mu_);
        for (const SequenceEvent& e : events) {
          auto it = active.find(e.id);
          if (it == active.end()) continue;
          Request& r = *it->second;
          if (e.token >= 0) metrics_.generated_tokens++;
          r.events.push_back(e);
          if (e.finish != FinishReason::kNone) {
            r.done = true;
            active.erase(it);
          }
        }
      }
      events_cv_.notify_all();
    };
    const SteadyTime t0 = SteadyNow();
    // New prompts' first tokens reach their clients before the step's decode runs, not after it.
    absl::StatusOr<std::vector<SequenceEvent>> events = engine_->Step(deliver);
    metrics_.steps++;
    metrics_.step_nanos += NanosSince(t0);
    if (!events.ok()) {
      // The engine's state is no longer known: every request in it fails.
      for (auto& [id, r] : active) {
        (void)engine_->Cancel(id);
        finish(*r, events.status());
      }
      active.clear();
      continue;
    }
    deliver(*events);
  }
}

std::string Server::MetricsText() const {
  int running, waiting, kv_used;
  EngineCounters c;
  {
    std::lock_guard<std::mutex> lock(mu_);
    running = running_, waiting = waiting_ + admitting_ + static_cast<int>(pending_.size()), kv_used = kv_used_;
    c = engine_counters_;
  }
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, double value) {
    absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n", name, " ", value, "\n");
  };
  metric("ggrt_requests_total", "counter", "Completion requests accepted.", metrics_.requests);
  metric("ggrt_requests_failed_total", "counter", "Requests refused or failed (any error status).", metrics_.failed);
  metric("ggrt_prompt_tokens_total", "counter", "Prompt tokens of accepted requests.", metrics_.prompt_tokens);
  metric("ggrt_generated_tokens_total", "counter", "Tokens generated.", metrics_.generated_tokens);
  metric("ggrt_sequences_running", "gauge", "Sequences in the batch.", running);
  metric("ggrt_sequences_waiting", "gauge", "Requests waiting for a place in the batch.", waiting);
  metric("ggrt_kv_blocks_used", "gauge", "KV cache pages held by sequences.", kv_used);
  metric("ggrt_kv_blocks_total", "gauge", "KV cache pages in the pool.", kv_total_);
  metric("ggrt_steps_total", "counter", "Engine steps.", metrics_.steps);
  metric("ggrt_step_seconds_total", "counter", "Time spent in engine steps.", metrics_.step_nanos * 1e-9);
  metric("ggrt_prefill_runs_total", "counter", "Prefill runs (one runs the chunks of several prompts).",
         c.prefill_runs);
  metric("ggrt_prefill_chunks_total", "counter", "Prompt chunks prefilled.", c.prefill_chunks);
  metric("ggrt_prefill_tokens_total", "counter", "Prompt tokens prefilled.", c.prefill_tokens);
  metric("ggrt_prefill_seconds_total", "counter", "Time spent prefilling prompt chunks.", c.prefill_nanos * 1e-9);
  metric("ggrt_decode_steps_total", "counter", "Batched decode steps.", c.decode_steps);
  metric("ggrt_decode_rows_total", "counter", "Sequences decoded, summed over the decode steps.", c.decode_rows);
  metric("ggrt_decode_seconds_total", "counter", "Time spent in batched decode steps.", c.decode_nanos * 1e-9);
  metric("ggrt_decode_steps_run_ahead_total", "counter",
         "Decode steps after which the next could start before the host read their tokens.", c.decode_steps_ahead);
  return out;
}

void Server::Routes() {
  if (!options_.cors_origin.empty()) {
    // Opt-in: a server on 127.0.0.1 answering every origin would let any web page the user opens drive it.
    http_->set_default_headers({{"Access-Control-Allow-Origin", options_.cors_origin}, {"Vary", "Origin"}});
    http_->Options(R"(/.*)", [](const httplib::Request&, httplib::Response& res) {
      res.status = 204;
      res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
      res.set_header("Access-Control-Allow-Headers", "Content-Type, Authorization");
      res.set_header("Access-Control-Max-Age", "600");
    });
  }
  if (!options_.api_key.empty()) {
    // As OpenAI's API answers a missing or wrong key; /health stays open for load balancers' probes.
    http_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      // Compared in time independent of where the given key first differs.
      const std::string given = req.get_header_value("Authorization"), want = "Bearer " + options_.api_key;
      unsigned char differ = given.size() != want.size();
      for (size_t i = 0; i < want.size(); ++i) differ |= (i < given.size() ? given[i] : 0) ^ want[i];
      // A browser's CORS preflight carries no credentials, and does nothing.
      if (req.path == "/health" || req.method == "OPTIONS" || differ == 0) {
        return httplib::Server::HandlerResponse::Unhandled;
      }
      SendError(res, 401, "a valid API key is required (Authorization: Bearer KEY)", "invalid_request_error", "",
                "invalid_api_key");
      return httplib::Server::HandlerResponse::Handled;
    });
  }
  http_->Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    if (!ready_) {
      res.status = 503;
      res.set_content(R"({"status":"loading"})", "application/json");
    } else {
      res.set_content(R"({"status":"ok"})", "application/json");
    }
  });
  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(MetricsText(), "text/plain; version=0.0.4");
  });
  const json model = {{"id", options_.model_name}, {"object", "model"}, {"created", 0}, {"owned_by", "ggrt"}};
  http_->Get("/v1/models", [model](const httplib::Request&, httplib::Response& res) {
    res.set_content(Dump({{"object", "list"}, {"data", json::array({model})}}), "application/json");
  });
  http_->Get(R"(/v1/models/(.+))", [this, model](const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1];
    if (id != options_.model_name) {
      return SendError(res, 404, NoSuchModel(id, options_.model_name), "invalid_request_error", "model",
                       "model_not_found");
    }
    res.set_content(Dump(model), "application/json");
  });

  auto complete = [this](bool chat, const httplib::Request& req, httplib::Response& res) {
    if (!ready_) return SendError(res, 503, "the model is loading", "server_error", "", "loading");
    if (stopping_) return SendError(res, 503, "the server is shutting down", "server_error", "", "shutting_down");
    ParseError error;
    std::optional<Params> p = ParseParams(req.body, chat, options_.model_name, &error);
    auto refuse = [&](int status, const std::string& message, const std::string& param = "",
                      const std::string& code = "") {
      metrics_.failed++;
      SendError(res, status, message, status >= 500 ? "server_error" : "invalid_request_error", param, code);
    };
    if (!p) return refuse(error.status, error.message, error.param, error.code);
    const Tokenizer& tokenizer = *model_->tokenizer;
    absl::StatusOr<std::vector<int32_t>> prompt =
        chat    ? tokenizer.Encode(ApplyChatTemplate(chat_, p->messages, /*add_generation_prompt=*/true),
                                   tokenizer.add_bos())
        : !p->prompt_ids.empty() ? absl::StatusOr<std::vector<int32_t>>(p->prompt_ids)
                 : tokenizer.Encode(p->prompt, {.add_bos = tokenizer.add_bos()});
    if (!prompt.ok()) return refuse(400, std::string(prompt.status().message()), chat ? "messages" : "prompt");
    // Token ids as given (no BOS added, as for generate's --prompt-ids), each one of the vocabulary's.
    for (const int32_t id : p->prompt_ids) {
      if (id >= tokenizer.n_vocab()) {
        return refuse(400, absl::StrCat("prompt token ", id, " is not below the vocabulary's ", tokenizer.n_vocab()),
                      "prompt");
      }
    }
    const int ctx = model_->executor->ctx_size();
    if (prompt->empty()) return refuse(400, "the prompt encodes to no tokens", chat ? "messages" : "prompt");
    if (static_cast<int>(prompt->size()) >= ctx) {
      return refuse(400,
                    absl::StrCat("the prompt is ", prompt->size(), " tokens; the context holds ", ctx,
                                 " with room for one generated token"),
                    chat ? "messages" : "prompt", "context_length_exceeded");
    }
    auto r = std::make_shared<Request>();
    r->prompt = *std::move(prompt);
    r->options.sampler = p->sampler;
    if (!p->seeded) r->options.sampler.seed = std::random_device{}();
    const int room = ctx - static_cast<int>(r->prompt.size());
    r->options.max_new_tokens = std::min(p->max_tokens > 0 ? p->max_tokens : (chat ? room : 16), room);
    if (!Submit(r)) return refuse(503, "the server is busy: the request queue is full", "", "queue_full");
    metrics_.requests++;
    metrics_.prompt_tokens += static_cast<int64_t>(r->prompt.size());
    in_flight_++;

    const std::string id = absl::StrCat(chat ? "chatcmpl-" : "cmpl-", next_id_++);
    const int64_t created = NowSeconds();
    const int prompt_tokens = static_cast<int>(r->prompt.size());
    auto text = std::make_shared<TextStream>(tokenizer, p->stops);
    // Waits for the request's next events; returns the new text, and sets *finish when it ended.
    auto next = [this, r, text](std::string* finish, absl::Status* status) {
      std::deque<SequenceEvent> events;
      bool done = false;
      absl::Status error;
      {
        std::unique_lock<std::mutex> lock(events_mu_);
        events_cv_.wait(lock, [&] { return !r->events.empty() || r->done; });
        events.swap(r->events);
        done = r->done;
        error = r->error;
      }
      std::string out;
      for (const SequenceEvent& e : events) {
        if (e.token >= 0 && !text->stopped()) out += text->Add(e.token);
        if (e.finish == FinishReason::kStop) *finish = "stop";
        if (e.finish == FinishReason::kLength || e.finish == FinishReason::kCancelled) *finish = "length";
      }
      if (text->stopped()) {
        *finish = "stop";
        r->cancel = true;  // The scheduler ends the sequence.
      } else if (done && finish->empty()) {
        *status = error.ok() ? absl::InternalError("the request ended without a finish") : error;
      }
      if (!finish->empty()) out += text->Flush();
      return out;
    };
    auto usage = [prompt_tokens, text] {
      return json{{"prompt_tokens", prompt_tokens},
                  {"completion_tokens", text->tokens()},
                  {"total_tokens", prompt_tokens + text->tokens()}};
    };
    const std::string model_name = options_.model_name;
    const bool usage_chunk = p->usage_chunk;
    auto chunk_head = [=](json choices) {
      return json{{"id", id}, {"object", chat ? "chat.completion.chunk" : "text_completion"}, {"created", created},
                  {"model", model_name}, {"choices", std::move(choices)}};
    };
    auto chunk = [=](const std::string& delta, const std::string& finish, bool first) {
      json choice = {{"index", 0}, {"finish_reason", finish.empty() ? json(nullptr) : json(finish)}};
      if (chat) {
        json d = json::object();
        if (first) d["role"] = "assistant";
        if (!delta.empty()) d["content"] = delta;
        choice["delta"] = d;
      } else {
        choice["text"] = delta;
        choice["logprobs"] = nullptr;
      }
      json c = chunk_head(json::array({choice}));
      // By default the last chunk carries the usage; asked for its own chunk (OpenAI's include_usage), the
      // others say null.
      if (usage_chunk) {
        c["usage"] = nullptr;
      } else if (!finish.empty()) {
        c["usage"] = usage();
      }
      return c;
    };
    // OpenAI's include_usage chunk, after the last: no choices, the request's usage.
    auto usage_only = [=] {
      json c = chunk_head(json::array());
      c["usage"] = usage();
      return c;
    };

    if (!p->stream) {
      std::string all, finish;
      absl::Status status;
      while (finish.empty() && status.ok()) all += next(&finish, &status);
      in_flight_--;
      if (!status.ok()) {
        metrics_.failed++;
        return SendError(res, 500, std::string(status.message()), "server_error");
      }
      json choice = {{"index", 0}, {"finish_reason", finish}};
      if (chat) {
        choice["message"] = {{"role", "assistant"}, {"content", all}};
      } else {
        choice["text"] = all;
        choice["logprobs"] = nullptr;
      }
      res.set_content(Dump({{"id", id},
                            {"object", chat ? "chat.completion" : "text_completion"},
                            {"created", created},
                            {"model", model_name},
                            {"choices", json::array({choice})},
                            {"usage", usage()}}),
                      "application/json");
      return;
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, r, next, chunk, usage_only, usage_chunk, chat](size_t, httplib::DataSink& sink) {
          auto send = [&](const std::string& data) {
            const std::string event = absl::StrCat("data: ", data, "\n\n");
            return sink.write(event.data(), event.size());
          };
          bool first = chat, ok = true;
          if (chat) ok = send(Dump(chunk("", "", true)));  // The role comes first.
          first = false;
          std::string finish;
          absl::Status status;
          while (ok && finish.empty() && status.ok()) {
            const std::string delta = next(&finish, &status);
            if (!status.ok()) break;
            if (!delta.empty() || !finish.empty()) ok = send(Dump(chunk(delta, finish, first)));
          }
          if (!ok) {
            r->cancel = true;  // The client is gone: its sequence ends at the next step.
          } else if (!status.ok()) {
            metrics_.failed++;
            send(ErrorBody(std::string(status.message()), "server_error"));
          } else {
            if (usage_chunk) ok = send(Dump(usage_only()));
            if (ok) send("[DONE]");
          }
          sink.done();
          return true;
        },
        [this](bool) { in_flight_--; });
  };
  http_->Post("/v1/completions",
              [complete](const httplib::Request& req, httplib::Response& res) { complete(false, req, res); });
  http_->Post("/v1/chat/completions",
              [complete](const httplib::Request& req, httplib::Response& res) { complete(true, req, res); });
  http_->set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 413) {
      // httplib holds a form-encoded body (curl -d without a Content-Type sends one) to 8 KB, whatever the
      // server's own limit: say so, or a long JSON prompt would look too large at a fraction of the limit.
      const bool form = req.get_header_value("Content-Type").rfind("application/x-www-form-urlencoded", 0) == 0;
      SendError(res, 413,
                form ? absl::StrCat("a form-encoded body is limited to ",
                                    CPPHTTPLIB_FORM_URL_ENCODED_PAYLOAD_MAX_LENGTH / 1024,
                                    " KB: send the JSON with 'Content-Type: application/json' (up to ",
                                    options_.max_body_bytes >> 10, " KB)")
                     : absl::StrCat("the request body is larger than ", options_.max_body_bytes >> 10, " KB"),
                "invalid_request_error", "", "payload_too_large");
    } else if (res.status == 404) {
      SendError(res, 404, "no such endpoint", "invalid_request_error", "", "not_found");
    }
  });
}

}  // namespace ggrt
