// Tests of the router and the routes over a FakeDispatcher and a capturing
// sink: status codes, error bodies, SSE framing, cancellation on disconnect.
#include <gtest/gtest.h>

#include "front/router.h"

namespace vigil::front {
namespace {

using nlohmann::json;

class FakeDispatcher : public supervisor::Dispatcher {
 public:
  supervisor::JobId Submit(supervisor::JobSpec spec, std::shared_ptr<supervisor::JobObserver> obs) override {
    last_spec = spec;
    observer = std::move(obs);
    if (fail_with) {
      observer->OnFailed(*fail_with, 0, retryable);
      observer.reset();
    }
    return ++next_id;
  }
  void Cancel(supervisor::JobId id) override { cancelled.push_back(id); observer.reset(); }
  supervisor::Readiness GetReadiness() const override { return readiness; }
  supervisor::SupervisorSnapshot Snapshot() const override { return {}; }
  std::string ModelName() const override { return "fake"; }
  void Drain(std::chrono::milliseconds, std::function<void()> done) override { done(); }

  supervisor::JobSpec last_spec;
  std::shared_ptr<supervisor::JobObserver> observer;
  std::optional<Error> fail_with;
  bool retryable = true;
  supervisor::Readiness readiness{true, ""};
  std::vector<supervisor::JobId> cancelled;
  supervisor::JobId next_id = 0;
};

struct Sink : ResponseSink {
  void Write(std::string b) override { bytes += b; }
  void Complete(bool) override { completed = true; }
  std::string bytes;
  bool completed = false;
  int Status() const { return std::stoi(bytes.substr(9, 3)); }
  std::string Body() const { return bytes.substr(bytes.find("\r\n\r\n") + 4); }
  bool HasHeader(const std::string& h) const { return bytes.find(h + "\r\n") < bytes.find("\r\n\r\n"); }
};

// A tiny PNG (1x1, valid IHDR CRC) in base64.
constexpr const char* kPng =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";

class RoutesTest : public ::testing::Test {
 protected:
  std::shared_ptr<Exchange> Call(std::string method, std::string path, std::string body = "",
                                 Headers headers = {{"content-type", "application/json"}}) {
    Request req;
    req.method = std::move(method);
    req.path = std::move(path);
    req.body = std::move(body);
    req.headers = std::move(headers);
    req.request_id = "t1";
    sink = std::make_shared<Sink>();
    auto ex = std::make_shared<Exchange>(std::move(req), sink, router.Hook());
    router.Handle(ex);
    return ex;
  }
  FakeDispatcher fake;
  FrontOptions options;
  Router router{fake, options};
  std::shared_ptr<Sink> sink;
};

TEST_F(RoutesTest, AnalyzeJsonDone) {
  auto ex = Call("POST", "/analyze", json{{"image", kPng}, {"prompt", "hi"}, {"max_tokens", 3}}.dump());
  ASSERT_TRUE(fake.observer);
  EXPECT_EQ(fake.last_spec.prompt, "hi");
  EXPECT_EQ(fake.last_spec.params.max_tokens, 3);
  EXPECT_FALSE(fake.last_spec.streaming);
  // A non-streaming answer is Done's whole text; pieces only time the first
  // token (a retried attempt may have streamed pieces that are not the answer).
  fake.observer->OnPiece("x");
  protocol::Done done;
  done.text = "ab";
  done.usage.completion_tokens = 2;
  fake.observer->OnDone(done, 2);
  ASSERT_TRUE(sink->completed);
  EXPECT_EQ(sink->Status(), 200);
  auto body = json::parse(sink->Body());
  EXPECT_EQ(body["text"], "ab");
  EXPECT_EQ(body["attempts"], 2);
  EXPECT_EQ(body["image"]["format"], "png");
}

TEST_F(RoutesTest, AnalyzeStreamEndsWithOneFinalEvent) {
  Call("POST", "/analyze", json{{"image", kPng}, {"prompt", "hi"}, {"stream", true}}.dump());
  fake.observer->OnProgress({0, "image_encode", 1, 1});
  fake.observer->OnPiece("x");
  fake.observer->OnFailed(MakeError(ErrorCode::kWorkerCrashed, "SIGSEGV"), 3, false);
  EXPECT_EQ(sink->Status(), 200);
  EXPECT_NE(sink->bytes.find("data: {\"progress\""), std::string::npos);
  EXPECT_NE(sink->bytes.find("data: {\"text\":\"x\"}"), std::string::npos);
  EXPECT_NE(sink->bytes.find("\"type\":\"worker_crashed\""), std::string::npos);
  EXPECT_TRUE(sink->bytes.ends_with("0\r\n\r\n"));
}

TEST_F(RoutesTest, FailureBeforeStreamKeepsItsStatus) {
  fake.fail_with = MakeError(ErrorCode::kOverloaded, "queue full (64)");
  Call("POST", "/analyze", json{{"image", kPng}, {"stream", true}}.dump());
  EXPECT_EQ(sink->Status(), 503);
  EXPECT_TRUE(sink->HasHeader("Retry-After: 1"));
  EXPECT_FALSE(sink->HasHeader("x-should-retry: false"));
  fake.fail_with = MakeError(ErrorCode::kWorkerCrashed, "crashed twice");
  fake.retryable = false;
  Call("POST", "/analyze", json{{"image", kPng}}.dump());
  EXPECT_EQ(sink->Status(), 502);
  EXPECT_TRUE(sink->HasHeader("x-should-retry: false"));
  EXPECT_EQ(json::parse(sink->Body())["error"]["code"], 502);
}

TEST_F(RoutesTest, ClientGoneCancels) {
  auto ex = Call("POST", "/v1/chat/completions",
                 json{{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"stream", true}}.dump());
  ASSERT_TRUE(fake.observer);
  ex->ClientGone();
  ASSERT_EQ(fake.cancelled.size(), 1u);
  EXPECT_EQ(fake.cancelled[0], fake.next_id);
}

TEST_F(RoutesTest, ChatStreamShape) {
  Call("POST", "/v1/chat/completions",
       json{{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"stream", true},
            {"stream_options", {{"include_usage", true}}}}.dump());
  EXPECT_TRUE(fake.last_spec.streaming);
  fake.observer->OnPiece("hey");
  protocol::Done done;
  done.finish_reason = "stop";
  done.usage = {5, 1};
  fake.observer->OnDone(done, 1);
  const std::string& b = sink->bytes;
  EXPECT_NE(b.find("\"object\":\"chat.completion.chunk\""), std::string::npos);
  EXPECT_NE(b.find("\"role\":\"assistant\""), std::string::npos);
  EXPECT_NE(b.find("\"choices\":[],"), std::string::npos);
  EXPECT_NE(b.find("\"total_tokens\":6"), std::string::npos);
  EXPECT_NE(b.find("data: [DONE]"), std::string::npos);
}

TEST_F(RoutesTest, ReadyHealthAuth) {
  fake.readiness = {false, "no worker loaded (1 restarting)"};
  Call("GET", "/ready");
  EXPECT_EQ(sink->Status(), 503);
  EXPECT_NE(sink->Body().find("1 restarting"), std::string::npos);
  Call("GET", "/health");
  EXPECT_EQ(sink->Status(), 200);

  FrontOptions keyed;
  keyed.api_key = "k";
  Router guarded(fake, keyed);
  auto call = [&](Headers h, std::string path) {
    Request req;
    req.method = "GET";
    req.path = std::move(path);
    req.headers = std::move(h);
    auto s = std::make_shared<Sink>();
    guarded.Handle(std::make_shared<Exchange>(std::move(req), s, guarded.Hook()));
    return s->Status();
  };
  EXPECT_EQ(call({}, "/metrics"), 401);
  EXPECT_EQ(call({{"authorization", "Bearer x"}}, "/metrics"), 401);
  EXPECT_EQ(call({{"authorization", "Bearer k"}}, "/metrics"), 200);
  EXPECT_EQ(call({}, "/health"), 200);
  EXPECT_EQ(call({}, "/readyz"), 503);
}

TEST_F(RoutesTest, MetricsCountRequests) {
  Call("GET", "/health");
  Call("GET", "/nope");
  Call("GET", "/metrics");
  const std::string body = sink->Body();
  EXPECT_NE(body.find("vigil_requests_total{route=\"/health\",status=\"200\"} 1"), std::string::npos);
  EXPECT_NE(body.find("vigil_requests_total{route=\"other\",status=\"404\"} 1"), std::string::npos);
  EXPECT_NE(body.find("vigil_queue_depth 0"), std::string::npos);
}

}  // namespace
}  // namespace vigil::front
