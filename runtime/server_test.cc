// The HTTP server end to end on the CPU backend (stories260K, 127.0.0.1, an ephemeral port): completions and
// chat, streamed and not, stop strings, max_tokens, every kind of bad request, a client that leaves
// mid-stream, 400 randomly mutated requests, 16 concurrent greedy requests each equal to its solo output, and
// /metrics that add up.
#include "runtime/server.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "runtime/session.h"

namespace ggrt {
namespace {

using json = nlohmann::json;

constexpr char kModel[] = "external/shared/models/stories260K.gguf";
constexpr int kContext = 256;

class ServerTest : public ::testing::Test {
 protected:
  // The server's shape: 16 sequences of 256 positions.
  virtual ServerOptions Options() {
    ServerOptions options;
    options.port = 0;
    options.model_name = "stories";
    options.max_body_bytes = 64 << 10;
    options.engine.max_batch = 16;
    return options;
  }
  virtual int Context() { return kContext; }

  void SetUp() override {
    const ServerOptions options = Options();
    server_ = std::make_unique<Server>(options);
    auto port = server_->Bind();
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
    serving_ = std::thread([this] { server_->Serve(); });
    auto model = LoadModel({.path = kModel, .backend = Backend::kCpu, .ctx_size = Context(),
                            .kv_pool_tokens = int64_t{options.engine.max_batch} * Context()});
    ASSERT_TRUE(model.ok()) << model.status();
    ASSERT_TRUE(server_->Attach(std::make_unique<LoadedModel>(*std::move(model))).ok());
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
    if (serving_.joinable()) serving_.join();
  }

  httplib::Client Client() {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(60, 0);
    return c;
  }
  // POSTs `body`; the status and the parsed body (null when it is not JSON).
  std::pair<int, json> Post(const std::string& path, const std::string& body) {
    httplib::Client c = Client();
    auto res = c.Post(path, body, "application/json");
    if (!res) return {-1, json{{"client_error", httplib::to_string(res.error())}}};
    return {res->status, json::parse(res->body, nullptr, false)};
  }
  // A streamed request's events (the JSON chunks, then "[DONE]" as a string).
  std::vector<json> Stream(const std::string& path, json body) {
    body["stream"] = true;
    httplib::Client c = Client();
    auto res = c.Post(path, body.dump(), "application/json");
    std::vector<json> events;
    if (!res || res->status != 200) return events;
    EXPECT_NE(res->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
    for (absl::string_view block : absl::StrSplit(res->body, "\n\n", absl::SkipEmpty())) {
      EXPECT_TRUE(absl::ConsumePrefix(&block, "data: ")) << block;
      events.push_back(block == "[DONE]" ? json("[DONE]") : json::parse(block, nullptr, false));
    }
    return events;
  }
  // Whether /metrics shows `value` for `metric` within `seconds`.
  bool WaitForMetric(const std::string& metric, double value, int seconds) {
    for (int i = 0; i < 50 * seconds; ++i) {
      if (Metrics()[metric] == value) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  // Streams a long completion and reads it while keep_reading() holds; the connection is closed on return.
  // Whether the response was read to its end.
  bool StreamWhile(const std::function<bool()>& keep_reading) {
    httplib::Client c = Client();
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    json body = {{"prompt", "Once upon a time"}, {"max_tokens", 16000}, {"temperature", 0}, {"stream", true}};
    req.body = body.dump();
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return keep_reading(); };
    return static_cast<bool>(c.send(req));
  }
  // The server's /metrics as name -> value.
  std::map<std::string, double> Metrics() {
    httplib::Client c = Client();
    auto res = c.Get("/metrics");
    std::map<std::string, double> m;
    if (!res) return m;
    for (absl::string_view line : absl::StrSplit(res->body, '\n', absl::SkipEmpty())) {
      if (line[0] == '#') continue;
      std::vector<std::string> parts = absl::StrSplit(line, ' ');
      double v = 0;
      if (parts.size() == 2 && absl::SimpleAtod(parts[1], &v)) m[parts[0]] = v;
    }
    return m;
  }

  std::unique_ptr<Server> server_;
  std::thread serving_;
  int port_ = 0;
};

json Completion(const std::string& prompt, int max_tokens) {
  return {{"prompt", prompt}, {"max_tokens", max_tokens}, {"temperature", 0}};
}

TEST_F(ServerTest, HealthModelsAndUnknownPaths) {
  httplib::Client c = Client();
  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto models = c.Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(json::parse(models->body)["data"][0]["id"], "stories");
  auto one = c.Get("/v1/models/stories");  // OpenAI's retrieve, as client.models.retrieve calls it.
  ASSERT_TRUE(one);
  EXPECT_EQ(one->status, 200);
  EXPECT_EQ(json::parse(one->body), json::parse(models->body)["data"][0]);
  auto other = c.Get("/v1/models/gpt-4");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
  EXPECT_EQ(json::parse(other->body)["error"]["code"], "model_not_found");
  auto missing = c.Get("/v1/nothing");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(json::parse(missing->body)["error"]["code"], "not_found");
}

TEST_F(ServerTest, GreedyCompletionMatchesTheGenerationLoop) {
  // The model goes on with " there": the first generated piece starts with SPM's space.
  auto [status, body] = Post("/v1/completions", Completion("Once upon a time,", 24).dump());
  ASSERT_EQ(status, 200) << body;
  EXPECT_EQ(body["object"], "text_completion");
  EXPECT_EQ(body["model"], "stories");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(body["usage"]["completion_tokens"], 24);
  // The same prompt through Generate on a separate executor.
  auto m = LoadModel({.path = kModel, .backend = Backend::kCpu, .ctx_size = kContext, .greedy = true});
  ASSERT_TRUE(m.ok());
  auto prompt = m->tokenizer->Encode("Once upon a time,", {.add_bos = m->tokenizer->add_bos()});
  ASSERT_TRUE(prompt.ok());
  EXPECT_EQ(body["usage"]["prompt_tokens"], prompt->size());
  std::vector<int32_t> ids;
  GenerateStats stats;
  ASSERT_TRUE(Generate(*m->executor, *m->tokenizer, *prompt, {.n_predict = 24, .sampler = {.temperature = 0}},
                       [&](int32_t t) { ids.push_back(t); }, &stats)
                  .ok());
  // The completion continues the prompt's text: prompt + completion is the decoded whole (with SPM, the
  // first generated piece keeps its leading space).
  std::vector<int32_t> whole = *prompt;
  whole.insert(whole.end(), ids.begin(), ids.end());
  const std::string head = m->tokenizer->Decode(*prompt), all = m->tokenizer->Decode(whole);
  ASSERT_EQ(all.substr(0, head.size()), head);
  EXPECT_EQ(body["choices"][0]["text"], all.substr(head.size()));
  EXPECT_EQ(std::string(body["choices"][0]["text"]).substr(0, 7), " there ");
}

// The newer chat API's forms: content as a list of text parts, and the 'developer' role, read as the string
// and the 'system' role they stand for (same prompt, so the same greedy reply).
TEST_F(ServerTest, ChatContentPartsAndTheDeveloperRoleReadAsTheirOlderForms) {
  const json plain = {{"messages",
                       {{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "Hi\nthere"}}}},
                      {"max_tokens", 6},
                      {"temperature", 0}};
  json parts = plain;
  parts["messages"][0]["role"] = "developer";
  parts["messages"][1]["content"] = {{{"type", "text"}, {"text", "Hi"}}, {{"type", "text"}, {"text", "there"}}};
  auto [status_a, a] = Post("/v1/chat/completions", plain.dump());
  auto [status_b, b] = Post("/v1/chat/completions", parts.dump());
  ASSERT_EQ(status_a, 200) << a;
  ASSERT_EQ(status_b, 200) << b;
  EXPECT_EQ(a["usage"]["prompt_tokens"], b["usage"]["prompt_tokens"]);
  EXPECT_EQ(a["choices"][0]["message"]["content"], b["choices"][0]["message"]["content"]);
}

// OpenAI's other prompt forms: a list of one string is that string; token ids (as a list, or a list of one
// list) are the prompt as given, so the text's ids (with its BOS) give the same completion.
TEST_F(ServerTest, PromptAsAListOrAsTokenIds) {
  auto [status, text] = Post("/v1/completions", Completion("Once upon a time", 8).dump());
  ASSERT_EQ(status, 200) << text;
  json listed = Completion("Once upon a time", 8);
  listed["prompt"] = json::array({"Once upon a time"});
  EXPECT_EQ(Post("/v1/completions", listed.dump()).second["choices"][0]["text"], text["choices"][0]["text"]);
  auto m = LoadModel({.path = kModel, .backend = Backend::kCpu, .ctx_size = kContext});
  ASSERT_TRUE(m.ok());
  auto ids = m->tokenizer->Encode("Once upon a time", {.add_bos = m->tokenizer->add_bos()});
  ASSERT_TRUE(ids.ok());
  for (const json& prompt : {json(*ids), json::array({*ids})}) {
    json body = Completion("", 8);
    body["prompt"] = prompt;
    auto [id_status, by_ids] = Post("/v1/completions", body.dump());
    ASSERT_EQ(id_status, 200) << by_ids;
    EXPECT_EQ(by_ids["usage"]["prompt_tokens"], ids->size());
    EXPECT_EQ(by_ids["choices"][0]["text"], text["choices"][0]["text"]);
  }
}

TEST_F(ServerTest, StreamingGivesTheSameTextInChunksEndingWithDone) {
  for (const char* path : {"/v1/completions", "/v1/chat/completions"}) {
    const bool chat = std::string(path).find("chat") != std::string::npos;
    json request = chat ? json{{"messages", {{{"role", "user"}, {"content", "Tell me a story"}}}},
                               {"max_tokens", 20},
                               {"temperature", 0}}
                        : Completion("The cat", 20);
    auto [status, whole] = Post(path, request.dump());
    ASSERT_EQ(status, 200) << whole;
    const std::vector<json> events = Stream(path, request);
    // A chunk carries the text generated since the last write: on a busy machine the engine may finish all 20
    // tokens before the first, so one text chunk (after chat's role chunk) and [DONE] is a valid stream.
    // (StreamWhile's tests read a long stream while it is still being generated.)
    ASSERT_GE(events.size(), chat ? 3u : 2u);
    EXPECT_EQ(events.back(), "[DONE]");
    std::string text;
    for (size_t i = 0; i + 1 < events.size(); ++i) {
      const json& choice = events[i]["choices"][0];
      EXPECT_EQ(events[i]["object"], chat ? "chat.completion.chunk" : "text_completion");
      text += chat ? choice["delta"].value("content", "") : choice["text"].get<std::string>();
      EXPECT_EQ(choice["finish_reason"].is_null(), i + 2 < events.size()) << "only the last chunk finishes";
    }
    if (chat) {
      EXPECT_EQ(events[0]["choices"][0]["delta"]["role"], "assistant");
    }
    const json& last = events[events.size() - 2];
    EXPECT_EQ(last["choices"][0]["finish_reason"], "length");
    EXPECT_EQ(last["usage"]["completion_tokens"], 20);
    EXPECT_EQ(text, chat ? whole["choices"][0]["message"]["content"].get<std::string>()
                         : whole["choices"][0]["text"].get<std::string>());
  }
}

// stream_options.include_usage, as OpenAI streams it: every chunk says "usage": null, and after the last one
// a chunk with no choices carries the usage; stream_options without a stream is refused.
TEST_F(ServerTest, StreamOptionsIncludeUsageSendsAUsageChunk) {
  json request = {{"messages", {{{"role", "user"}, {"content", "Tell me a story"}}}},
                  {"max_tokens", 12},
                  {"temperature", 0},
                  {"stream_options", {{"include_usage", true}}}};
  const std::vector<json> events = Stream("/v1/chat/completions", request);
  ASSERT_GE(events.size(), 4u);  // Role, text, usage, [DONE].
  EXPECT_EQ(events.back(), "[DONE]");
  const json& usage = events[events.size() - 2];
  EXPECT_TRUE(usage["choices"].is_array() && usage["choices"].empty()) << usage;
  EXPECT_EQ(usage["usage"]["completion_tokens"], 12);
  for (size_t i = 0; i + 2 < events.size(); ++i) {
    EXPECT_TRUE(events[i].contains("usage") && events[i]["usage"].is_null()) << events[i];
  }
  EXPECT_EQ(events[events.size() - 3]["choices"][0]["finish_reason"], "length");
  request.erase("stream");
  request["stream"] = false;
  EXPECT_EQ(Post("/v1/chat/completions", request.dump()).first, 400);
  request["stream"] = true;
  request["stream_options"] = {{"include_usage", "yes"}};
  EXPECT_EQ(Post("/v1/chat/completions", request.dump()).first, 400);
}

TEST_F(ServerTest, StopStringsEndTheTextBeforeThem) {
  auto [status, full] = Post("/v1/completions", Completion("Once upon a time", 40).dump());
  ASSERT_EQ(status, 200);
  const std::string text = full["choices"][0]["text"];
  // A stop string from the middle of the text: the answer ends just before it, streamed or not.
  const size_t at = text.find(' ', text.size() / 2);
  ASSERT_NE(at, std::string::npos);
  const std::string stop = text.substr(at, 4);
  json request = Completion("Once upon a time", 40);
  request["stop"] = {"zzzz-never", stop};
  auto [stop_status, stopped] = Post("/v1/completions", request.dump());
  ASSERT_EQ(stop_status, 200) << stopped;
  EXPECT_EQ(stopped["choices"][0]["text"], text.substr(0, text.find(stop)));
  EXPECT_EQ(stopped["choices"][0]["finish_reason"], "stop");
  std::string streamed;
  const std::vector<json> events = Stream("/v1/completions", request);
  ASSERT_GE(events.size(), 2u);
  for (size_t i = 0; i + 1 < events.size(); ++i) streamed += events[i]["choices"][0]["text"].get<std::string>();
  EXPECT_EQ(streamed, text.substr(0, text.find(stop)));
  EXPECT_EQ(events[events.size() - 2]["choices"][0]["finish_reason"], "stop");
}

TEST_F(ServerTest, BadRequestsGetOpenAiErrorsAndChangeNothing) {
  struct Case {
    std::string path, body;
    int status;
    std::string param;
  };
  const std::string long_prompt(4000, 'a');  // Far more tokens than the 256-token context.
  const std::vector<Case> cases = {
      {"/v1/completions", "{not json", 400, ""},
      {"/v1/completions", "[1, 2]", 400, ""},
      {"/v1/completions", R"({"prompt": 7})", 400, "prompt"},
      {"/v1/completions", R"({"prompt": ""})", 400, "prompt"},
      {"/v1/completions", json{{"prompt", long_prompt}}.dump(), 400, "prompt"},
      {"/v1/completions", R"({"prompt": "a", "max_tokens": 0})", 400, "max_tokens"},
      {"/v1/completions", R"({"prompt": "a", "max_tokens": -3})", 400, "max_tokens"},
      {"/v1/completions", R"({"prompt": "a", "max_tokens": "8"})", 400, "max_tokens"},
      {"/v1/completions", R"({"prompt": "a", "temperature": "hot"})", 400, "temperature"},
      {"/v1/completions", R"({"prompt": "a", "top_p": 2})", 400, "top_p"},
      {"/v1/completions", R"({"prompt": "a", "stream": "yes"})", 400, "stream"},
      {"/v1/completions", R"({"prompt": "a", "stop": [1]})", 400, "stop"},
      {"/v1/completions", R"({"prompt": "a", "model": "gpt-4"})", 404, "model"},
      {"/v1/chat/completions", R"({"messages": []})", 400, "messages"},
      {"/v1/chat/completions", R"({"messages": [{"role": "wizard", "content": "hi"}]})", 400, "messages"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user"}]})", 400, "messages"},
      {"/v1/chat/completions",
       R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]})", 400,
       "messages"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": [{"type": "text"}]}]})", 400,
       "messages"},
      {"/v1/completions", json{{"prompt", std::string(100 << 10, 'a')}}.dump(), 413, ""},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 0})",
       400, "max_completion_tokens"},
      {"/v1/chat/completions",
       R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "max_completion_tokens": 5})", 400,
       "max_completion_tokens"},
      {"/v1/completions", R"({"prompt": ["a", "b"]})", 400, "prompt"},
      {"/v1/completions", R"({"prompt": []})", 400, "prompt"},
      {"/v1/completions", R"({"prompt": [1, -2]})", 400, "prompt"},
      {"/v1/completions", R"({"prompt": [1, 2.5]})", 400, "prompt"},
      {"/v1/completions", R"({"prompt": [1, 99999999]})", 400, "prompt"},
      // Asked-for behaviour the server does not implement is refused, not ignored.
      {"/v1/completions", R"({"prompt": "a", "n": 3})", 400, "n"},
      {"/v1/completions", R"({"prompt": "a", "best_of": 2})", 400, "best_of"},
      {"/v1/completions", R"({"prompt": "a", "presence_penalty": 0.5})", 400, "presence_penalty"},
      {"/v1/completions", R"({"prompt": "a", "frequency_penalty": -1})", 400, "frequency_penalty"},
      {"/v1/completions", R"({"prompt": "a", "logit_bias": {"50256": -100}})", 400, "logit_bias"},
      {"/v1/completions", R"({"prompt": "a", "logprobs": 5})", 400, "logprobs"},
      {"/v1/completions", R"({"prompt": "a", "echo": true})", 400, "echo"},
      {"/v1/completions", R"({"prompt": "a", "suffix": "end"})", 400, "suffix"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "hi"}], "logprobs": true})", 400,
       "logprobs"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function"}]})",
       400, "tools"},
      {"/v1/chat/completions",
       R"({"messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "json_object"}})", 400,
       "response_format"},
  };
  for (const Case& c : cases) {
    auto [status, body] = Post(c.path, c.body);
    EXPECT_EQ(status, c.status) << c.body.substr(0, 80);
    ASSERT_TRUE(body.is_object() && body.contains("error")) << c.body.substr(0, 80) << " -> " << body;
    EXPECT_TRUE(body["error"]["message"].is_string());
    EXPECT_TRUE(body["error"]["type"].is_string());
    if (!c.param.empty()) {
      EXPECT_EQ(body["error"]["param"], c.param) << c.body.substr(0, 80);
    }
  }
  EXPECT_EQ(Post("/v1/completions", json{{"prompt", long_prompt}}.dump()).second["error"]["code"],
            "context_length_exceeded");
  // A body sent as a form (curl -d without a Content-Type) is capped at 8 KB by the HTTP library: the error
  // says to send JSON.
  {
    httplib::Client c = Client();
    auto form = c.Post("/v1/completions", json{{"prompt", std::string(20000, 'a')}}.dump(),
                       "application/x-www-form-urlencoded");
    ASSERT_TRUE(form);
    EXPECT_EQ(form->status, 413);
    EXPECT_NE(form->body.find("Content-Type: application/json"), std::string::npos) << form->body;
  }
  // The same fields at their defaults are accepted, as clients that send every field send them.
  json defaults = Completion("Hello", 2);
  defaults.update({{"n", 1}, {"best_of", 1}, {"presence_penalty", 0}, {"frequency_penalty", 0.0},
                   {"logit_bias", json::object()}, {"logprobs", nullptr}, {"echo", false}, {"suffix", ""},
                   {"user", "someone"}});
  EXPECT_EQ(Post("/v1/completions", defaults.dump()).first, 200);
  json chat = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 2}, {"temperature", 0},
               {"logprobs", false}, {"tools", json::array()}, {"response_format", {{"type", "text"}}}};
  EXPECT_EQ(Post("/v1/chat/completions", chat.dump()).first, 200);
  // The chat API's newer name for the limit is honoured.
  chat.erase("max_tokens");
  chat["max_completion_tokens"] = 3;
  auto [chat_status, chat_body] = Post("/v1/chat/completions", chat.dump());
  EXPECT_EQ(chat_status, 200);
  EXPECT_EQ(chat_body["usage"]["completion_tokens"], 3) << chat_body;
  // The server still serves, and counted none of them as accepted requests.
  auto [status, body] = Post("/v1/completions", Completion("Hello", 4).dump());
  EXPECT_EQ(status, 200);
  const auto m = Metrics();
  EXPECT_EQ(m.at("ggrt_requests_total"), 4);
  EXPECT_GE(m.at("ggrt_requests_failed_total"), cases.size() - 1);  // 413 never reaches the handler.
}

TEST_F(ServerTest, ConcurrentGreedyRequestsEqualTheirSoloOutputsAndMetricsAddUp) {
  std::vector<std::string> prompts;
  for (int i = 0; i < 16; ++i) prompts.push_back(absl::StrCat("Once upon a time ", std::string(i % 5, '.'), i));
  std::vector<std::string> solo;
  int64_t prompt_tokens = 0, completion_tokens = 0;
  for (int i = 0; i < 16; ++i) {
    auto [status, body] = Post("/v1/completions", Completion(prompts[i], 10 + i).dump());
    ASSERT_EQ(status, 200) << body;
    solo.push_back(body["choices"][0]["text"]);
    prompt_tokens += body["usage"]["prompt_tokens"].get<int64_t>();
    completion_tokens += body["usage"]["completion_tokens"].get<int64_t>();
  }
  std::vector<json> together(16);
  std::vector<std::thread> clients;
  for (int i = 0; i < 16; ++i) {
    clients.emplace_back([&, i] { together[i] = Post("/v1/completions", Completion(prompts[i], 10 + i).dump()).second; });
  }
  for (auto& t : clients) t.join();
  for (int i = 0; i < 16; ++i) {
    ASSERT_TRUE(together[i].contains("choices")) << together[i];
    EXPECT_EQ(together[i]["choices"][0]["text"], solo[i]) << "request " << i;
    prompt_tokens += together[i]["usage"]["prompt_tokens"].get<int64_t>();
    completion_tokens += together[i]["usage"]["completion_tokens"].get<int64_t>();
  }
  const auto m = Metrics();
  EXPECT_EQ(m.at("ggrt_requests_total"), 32);
  EXPECT_EQ(m.at("ggrt_requests_failed_total"), 0);
  EXPECT_EQ(m.at("ggrt_prompt_tokens_total"), prompt_tokens);
  EXPECT_EQ(m.at("ggrt_generated_tokens_total"), completion_tokens);
  EXPECT_EQ(m.at("ggrt_sequences_running"), 0);
  EXPECT_EQ(m.at("ggrt_kv_blocks_used"), 0);
  EXPECT_GT(m.at("ggrt_steps_total"), 0);
  // Every prompt went through prefill, and every token but each request's first (which its prefill gave) was
  // one row of a decode step.
  EXPECT_EQ(m.at("ggrt_prefill_tokens_total"), prompt_tokens);
  EXPECT_GE(m.at("ggrt_prefill_chunks_total"), 32);
  EXPECT_EQ(m.at("ggrt_decode_rows_total"), completion_tokens - 32);
  EXPECT_LE(m.at("ggrt_decode_steps_total"), m.at("ggrt_steps_total"));
  EXPECT_GT(m.at("ggrt_decode_seconds_total"), 0);
}

// Valid requests of every kind, mutated at random (a field's value replaced by another JSON type or an
// extreme number, a field removed or added, bytes of the body flipped, cut or inserted): every answer is a
// 200 or a 4xx with an OpenAI error object, never a dropped connection or a 5xx, and the server still serves
// afterwards with every accepted request counted once; a greedy request repeated beside them always gives its
// solo text. Bounded: 400 requests, seeded.
TEST_F(ServerTest, RandomlyMutatedRequestsGetAnswersOrErrorsNeverA5xx) {
  std::mt19937 rng(2026);
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  const std::vector<std::pair<std::string, json>> seeds = {
      {"/v1/completions", Completion("Once upon a time", 4)},
      {"/v1/completions", {{"prompt", {1, 403, 261}}, {"max_tokens", 3}, {"temperature", 0.7}, {"seed", 5}}},
      {"/v1/completions", {{"prompt", "Lily"}, {"max_tokens", 5}, {"stop", {"\n", "."}}, {"top_p", 0.9}}},
      {"/v1/completions", {{"prompt", "Tom"}, {"max_tokens", 4}, {"stream", true}}},
      {"/v1/chat/completions",
       {{"messages", {{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "hi"}}}},
        {"max_tokens", 4},
        {"temperature", 0}}},
      {"/v1/chat/completions",
       {{"messages", {{{"role", "user"}, {"content", {{{"type", "text"}, {"text", "a cat"}}}}}}},
        {"max_completion_tokens", 3},
        {"stream", true},
        {"stream_options", {{"include_usage", true}}}}},
  };
  auto random_string = [&] {
    static const std::string kPieces[] = {"a", " ", "\n", "\"", "\\", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80",
                                          "<|im_start|>", "</s>", "{", "%s", "\t"};
    std::string out;
    for (int i = pick(40); i > 0; --i) out += kPieces[pick(13)];
    return out;
  };
  std::function<json(int)> random_value = [&](int depth) -> json {
    switch (pick(depth > 2 ? 9 : 11)) {
      case 0: return nullptr;
      case 1: return pick(2) == 1;
      case 2: return std::vector<int64_t>{0, -1, 1, 255, 65535, 151936, int64_t{1} << 31,
                                          int64_t{1} << 53, INT64_MIN, INT64_MAX}[pick(10)];
      case 3: return std::vector<double>{0.5, -0.0, 1e-300, 1e308, -1e308, 2.5, 100.0}[pick(7)];
      case 4: return static_cast<uint64_t>(UINT64_MAX - pick(3));
      case 5:
      case 6: return random_string();
      case 7: return std::string(pick(2) ? 3000 : 30, 'z');
      case 8: return json::array();
      case 9: {
        json a = json::array();
        for (int i = pick(4); i > 0; --i) a.push_back(random_value(depth + 1));
        return a;
      }
      default: {
        json o = json::object();
        for (int i = pick(3); i > 0; --i) o[random_string()] = random_value(depth + 1);
        return o;
      }
    }
  };
  // A random object in `j` (itself or one nested in it), to mutate.
  std::function<json*(json&)> random_object = [&](json& j) -> json* {
    std::vector<json*> inner;
    for (auto& [key, value] : j.items()) {
      if (value.is_object()) inner.push_back(&value);
      if (value.is_array()) {
        for (json& e : value) {
          if (e.is_object()) inner.push_back(&e);
        }
      }
    }
    if (inner.empty() || pick(2) == 0) return &j;
    return random_object(*inner[pick(static_cast<int>(inner.size()))]);
  };
  // Beside them, a greedy request again and again: the bad ones do not disturb it.
  const json steady = Completion("Once upon a time there was", 48);
  auto [solo_status, solo] = Post("/v1/completions", steady.dump());
  ASSERT_EQ(solo_status, 200) << solo;
  std::atomic<bool> fuzzing{true};
  std::atomic<int> steady_runs{0}, steady_differed{0};
  std::thread neighbour([&] {
    while (fuzzing.load()) {
      auto [status, body] = Post("/v1/completions", steady.dump());
      if (status != 200 || body["choices"][0]["text"] != solo["choices"][0]["text"]) steady_differed++;
      steady_runs++;
    }
  });
  int ok = 0;
  for (int i = 0; i < 400; ++i) {
    const auto& [path, seed] = seeds[pick(static_cast<int>(seeds.size()))];
    json request = seed;
    for (int m = 1 + pick(3); m > 0; --m) {
      json* target = random_object(request);
      std::vector<std::string> keys;
      for (auto& [key, value] : target->items()) keys.push_back(key);
      const int what = pick(4);
      if (what == 0 && !keys.empty()) {
        target->erase(keys[pick(static_cast<int>(keys.size()))]);
      } else if (what == 1) {
        static const std::string kFields[] = {"max_tokens", "temperature", "top_k", "top_p", "min_p", "seed",
                                              "stop", "stream", "model", "prompt", "messages", "role",
                                              "content", "n", "repeat_penalty", "stream_options"};
        (*target)[kFields[pick(16)]] = random_value(0);
      } else if (!keys.empty()) {
        (*target)[keys[pick(static_cast<int>(keys.size()))]] = random_value(0);
      }
    }
    std::string body = request.dump();
    if (pick(4) == 0) {  // Bytes, not fields: the JSON itself broken.
      for (int m = 1 + pick(4); m > 0 && !body.empty(); --m) {
        const size_t at = rng() % body.size();
        switch (pick(3)) {
          case 0: body[at] = static_cast<char>(rng()); break;
          case 1: body.resize(at); break;
          default: body.insert(at, 1, "{}[]\",:\\\x80\xFF"[pick(10)]); break;
        }
      }
    }
    httplib::Client c = Client();
    auto res = c.Post(path, body, "application/json");
    ASSERT_TRUE(res) << "request " << i << " dropped (" << httplib::to_string(res.error()) << "): " << body;
    ASSERT_TRUE(res->status == 200 || (res->status >= 400 && res->status < 500))
        << "request " << i << ": " << res->status << " " << res->body << " for " << body;
    if (res->status == 200) {
      ++ok;
      continue;
    }
    const json error = json::parse(res->body, nullptr, false);
    ASSERT_TRUE(error.is_object() && error.contains("error") && error["error"]["message"].is_string())
        << "request " << i << ": " << res->status << " " << res->body << " for " << body;
  }
  fuzzing = false;
  neighbour.join();
  EXPECT_GT(ok, 20);  // The mutations leave many requests valid: the generation paths ran too.
  EXPECT_GT(steady_runs.load(), 0);
  EXPECT_EQ(steady_differed.load(), 0) << "of " << steady_runs.load();
  EXPECT_EQ(Post("/v1/completions", Completion("Hello", 2).dump()).first, 200);
  const auto m = Metrics();
  EXPECT_EQ(m.at("ggrt_requests_total"), ok + 1 + 1 + steady_runs.load());
  EXPECT_EQ(m.at("ggrt_sequences_running"), 0);
  EXPECT_EQ(m.at("ggrt_kv_blocks_used"), 0);
}

// One sequence at a time and a queue of one: a third request while one runs and one waits gets 503, and the
// waiting one runs as soon as the first client leaves.
class BusyServerTest : public ServerTest {
 protected:
  ServerOptions Options() override {
    ServerOptions options = ServerTest::Options();
    options.engine.max_batch = 1;
    options.max_queue = 1;
    return options;
  }
  int Context() override { return 16384; }  // A long first request: many seconds of generation on the CPU.
};

TEST_F(BusyServerTest, AFullQueueAnswers503AndTheWaitingRequestRunsLater) {
  std::atomic<bool> leave{false};
  std::thread first([&] { StreamWhile([&] { return !leave.load(); }); });
  std::pair<int, json> second;
  std::thread waiting;
  {
    // Whatever fails below, the first client leaves and both threads are joined.
    struct Leave {
      std::atomic<bool>& leave;
      std::thread& first;
      std::thread& waiting;
      ~Leave() {
        leave = true;  // The first client hangs up; its place goes to the waiting request.
        first.join();
        if (waiting.joinable()) waiting.join();
      }
    } cleanup{leave, first, waiting};
    ASSERT_TRUE(WaitForMetric("ggrt_sequences_running", 1, 15));
    waiting = std::thread([&] { second = Post("/v1/completions", Completion("Hello", 4).dump()); });
    ASSERT_TRUE(WaitForMetric("ggrt_sequences_waiting", 1, 15));
    auto [status, third] = Post("/v1/completions", Completion("Hi", 4).dump());
    EXPECT_EQ(status, 503);
    EXPECT_EQ(third["error"]["code"], "queue_full");
  }
  EXPECT_EQ(second.first, 200) << second.second;
  EXPECT_EQ(second.second["usage"]["completion_tokens"], 4);
}

TEST_F(BusyServerTest, AClientThatLeavesMidStreamFreesItsSequence) {
  int chunks = 0;
  EXPECT_FALSE(StreamWhile([&] { return ++chunks < 3; }));  // We hung up.
  // Within a few seconds the sequence is gone and its pages are back, long before its 16000 tokens.
  EXPECT_TRUE(WaitForMetric("ggrt_sequences_running", 0, 4));
  auto m = Metrics();  // Published with the running count.
  EXPECT_EQ(m["ggrt_kv_blocks_used"], 0);
  EXPECT_LT(m["ggrt_generated_tokens_total"], 16000);
  auto [status, after] = Post("/v1/completions", Completion("Hello", 4).dump());
  EXPECT_EQ(status, 200);
}

// With an API key, every endpoint but /health wants "Authorization: Bearer KEY" and answers OpenAI's 401
// without it; with the key the server is as before.
class KeyedServerTest : public ServerTest {
 protected:
  ServerOptions Options() override {
    ServerOptions options = ServerTest::Options();
    options.api_key = "sk-test-123";
    options.cors_origin = "http://localhost:3000";
    return options;
  }
};

// CORS is opt-in: the default server sends no Access-Control headers.
TEST_F(ServerTest, NoCorsHeadersUnlessAsked) {
  httplib::Client c = Client();
  auto res = c.Get("/v1/models", {{"Origin", "http://evil.example"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_FALSE(res->has_header("Access-Control-Allow-Origin"));
}

// With --cors-origin, responses name the origin and a preflight (no key) is answered for the key's header.
TEST_F(KeyedServerTest, CorsPreflightAndHeaders) {
  httplib::Client c = Client();
  auto pre = c.Options("/v1/chat/completions", {{"Origin", "http://localhost:3000"},
                                                {"Access-Control-Request-Method", "POST"},
                                                {"Access-Control-Request-Headers", "authorization, content-type"}});
  ASSERT_TRUE(pre);
  EXPECT_EQ(pre->status, 204);
  EXPECT_EQ(pre->get_header_value("Access-Control-Allow-Origin"), "http://localhost:3000");
  EXPECT_NE(pre->get_header_value("Access-Control-Allow-Headers").find("Authorization"), std::string::npos);
  auto res = c.Get("/v1/models", {{"Authorization", "Bearer sk-test-123"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Access-Control-Allow-Origin"), "http://localhost:3000");
}

TEST_F(KeyedServerTest, RequestsWithoutTheKeyGet401) {
  httplib::Client c = Client();
  const std::string body = Completion("Hello", 2).dump();
  for (const httplib::Headers& headers :
       {httplib::Headers{}, httplib::Headers{{"Authorization", "Bearer sk-wrong"}},
        httplib::Headers{{"Authorization", "sk-test-123"}}}) {
    auto res = c.Post("/v1/completions", headers, body, "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401);
    const json error = json::parse(res->body, nullptr, false);
    EXPECT_EQ(error["error"]["code"], "invalid_api_key") << res->body;
    auto models = c.Get("/v1/models", headers);
    ASSERT_TRUE(models);
    EXPECT_EQ(models->status, 401);
  }
  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  const httplib::Headers key = {{"Authorization", "Bearer sk-test-123"}};
  auto res = c.Post("/v1/completions", key, body, "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  auto metrics = c.Get("/metrics", key);
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
}

// A model that fails to load at once makes the tool shut the server down right after Bind, possibly before
// Serve's thread has started its listener (httplib's stop() then does nothing): Serve must still return.
// Here Shutdown comes first for certain, and a second server is shut down while Serve starts.
TEST(ServerShutdownTest, ShutdownBeforeOrWhileServeStartsEndsServe) {
  for (const bool serve_first : {false, true}) {
    SCOPED_TRACE(serve_first ? "Serve, then Shutdown at once" : "Shutdown, then Serve");
    ServerOptions options;
    options.port = 0;
    Server server(options);
    ASSERT_TRUE(server.Bind().ok());
    std::atomic<bool> returned{false};
    std::thread serving;
    if (serve_first) serving = std::thread([&] { server.Serve(), returned = true; });
    server.Shutdown();
    if (!serve_first) serving = std::thread([&] { server.Serve(), returned = true; });
    for (int i = 0; i < 1000 && !returned; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!returned) {
      // The listener cannot be stopped from here: report and end the process rather than hang in join.
      ADD_FAILURE() << "Serve still listening 10 s after Shutdown";
      std::fflush(stdout);
      std::_Exit(1);
    }
    serving.join();
  }
}

}  // namespace
}  // namespace ggrt
