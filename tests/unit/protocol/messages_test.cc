#include "protocol/messages.h"

#include <gtest/gtest.h>

namespace vigil::protocol {
namespace {

Frame Wire(const Frame& f) {
  FrameDecoder d;
  d.Feed(EncodeFrame(f));
  auto r = d.Next();
  EXPECT_TRUE(r.ok() && r.value());
  return std::move(*r.value());
}

TEST(MessagesTest, JobRoundTrip) {
  Job job;
  job.job_id = 42;
  job.prompt = "What is in this image?";
  job.params.max_tokens = 12;
  job.params.temperature = 0.5;
  job.params.seed = 9;
  job.params.stop = {"\n", "END"};
  job.fault = FaultSpec{"segfault", "after_tokens", 3, 1};
  job.images = {std::string("\x89PNG\0\1", 6)};
  auto parsed = ParseJob(Wire(ToFrame(job)));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->job_id, 42u);
  EXPECT_EQ(parsed->prompt, job.prompt);
  EXPECT_EQ(parsed->params.max_tokens, 12);
  EXPECT_EQ(parsed->params.stop, job.params.stop);
  ASSERT_TRUE(parsed->fault);
  EXPECT_EQ(parsed->fault->kind, "segfault");
  EXPECT_EQ(parsed->fault->after_tokens, 3);
  EXPECT_EQ(parsed->images, job.images);
}

TEST(MessagesTest, DoneRoundTrip) {
  Done done;
  done.job_id = 3;
  done.text = "a red circle";
  done.finish_reason = "stop";
  done.usage = {20, 4};
  done.timings.image_encode_ms = 1.5;
  done.images = {ImageFacts{640, 480, 64, 48, "jpeg"}};
  auto parsed = ParseDone(Wire(ToFrame(done)));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->text, done.text);
  EXPECT_EQ(parsed->usage.completion_tokens, 4);
  EXPECT_DOUBLE_EQ(parsed->timings.image_encode_ms, 1.5);
  ASSERT_EQ(parsed->images.size(), 1u);
  EXPECT_EQ(parsed->images[0].model_width, 64);
}

TEST(MessagesTest, FailedKeepsTypedCode) {
  auto parsed = ParseFailed(Wire(ToFrame(Failed{5, ErrorCode::kInvalidImage, "truncated PNG"})));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->code, ErrorCode::kInvalidImage);
  Frame f = ToFrame(Failed{5, ErrorCode::kInvalidImage, "x"});
  f.header["code"] = "from_the_future";
  parsed = ParseFailed(f);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->code, ErrorCode::kInternal);
}

TEST(MessagesTest, LoadedRoundTripKeepsDeviceFacts) {
  Loaded loaded;
  loaded.load_ms = 812.5;
  loaded.model.name = "tiny";
  loaded.model.device = "Vulkan0: NVIDIA H200";
  loaded.model.device_memory_total = int64_t{150} << 30;
  loaded.model.device_memory_free = int64_t{140} << 30;
  loaded.model.gpu_layers = 33;
  auto parsed = ParseLoaded(Wire(ToFrame(loaded)));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->model.device, "Vulkan0: NVIDIA H200");
  EXPECT_EQ(parsed->model.device_memory_total, int64_t{150} << 30);
  EXPECT_EQ(parsed->model.device_memory_free, int64_t{140} << 30);
  EXPECT_EQ(parsed->model.gpu_layers, 33);
}

TEST(MessagesTest, LoadedGpuLayersIsOptionalAndNonNegative) {
  Loaded loaded;
  loaded.model.name = "tiny";
  loaded.model.gpu_layers = 7;
  Frame f = ToFrame(loaded);
  f.header["model"].erase("gpu_layers");  // an older worker
  auto parsed = ParseLoaded(f);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->model.gpu_layers, 0);
  f.header["model"]["gpu_layers"] = -1;
  EXPECT_FALSE(ParseLoaded(f).ok());
}

TEST(MessagesTest, LoadedCapacityDefaultsToOneForVersionOneWorkers) {
  Loaded loaded;
  loaded.model.name = "tiny";
  loaded.capacity = 8;
  Frame f = ToFrame(loaded);
  auto parsed = ParseLoaded(Wire(f));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->capacity, 8);
  f.header.erase("capacity");  // a version-1 worker
  parsed = ParseLoaded(f);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->capacity, 1);
  f.header["capacity"] = 0;
  EXPECT_FALSE(ParseLoaded(f).ok());
}

TEST(MessagesTest, PieceTokensAndJobResumeTokensRoundTrip) {
  Piece piece{9, "hel", {17, 2, 0, 2147483647}};
  auto p = ParsePiece(Wire(ToFrame(piece)));
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->tokens, (std::vector<int32_t>{17, 2, 0, 2147483647}));
  Frame f = ToFrame(Piece{9, "x", {}});
  EXPECT_FALSE(f.header.contains("tokens"));  // optional: an engine without ids omits it
  f.header["tokens"] = nlohmann::json::array({1, -3});
  EXPECT_FALSE(ParsePiece(f).ok());
  f.header["tokens"] = nlohmann::json::array({1, 2147483648LL});
  EXPECT_FALSE(ParsePiece(f).ok());

  Job job;
  job.job_id = 4;
  job.prompt = "p";
  job.resume_tokens = {5, 6, 7};
  auto j = ParseJob(Wire(ToFrame(job)));
  ASSERT_TRUE(j.ok()) << j.error().message;
  EXPECT_EQ(j->resume_tokens, (std::vector<int32_t>{5, 6, 7}));
  job.resume_tokens.clear();
  EXPECT_FALSE(ToFrame(job).header.contains("resume_tokens"));
}

TEST(MessagesTest, DoneCarriesDeviceMemoryFree) {
  Done done;
  done.job_id = 4;
  done.text = "ok";
  done.finish_reason = "stop";
  done.device_memory_free = int64_t{12} << 30;
  auto parsed = ParseDone(Wire(ToFrame(done)));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->device_memory_free, int64_t{12} << 30);
  Frame f = ToFrame(done);
  f.header["device_memory_free"] = -5;
  EXPECT_FALSE(ParseDone(f).ok());
}

TEST(MessagesTest, DoneWithoutDeviceMemoryFreeParsesAsZero) {
  Done done;
  done.job_id = 4;
  done.text = "ok";
  done.finish_reason = "stop";
  done.device_memory_free = 0;  // unknown: not written at all
  Frame f = ToFrame(done);
  EXPECT_FALSE(f.header.contains("device_memory_free"));
  auto parsed = ParseDone(Wire(f));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->device_memory_free, 0);
}

TEST(MessagesTest, FailedWithJobZeroIsALoadFailure) {
  Frame f = ToFrame(Failed{0, ErrorCode::kOutOfMemory, "out of memory: cannot create context"});
  EXPECT_EQ(f.header["job"], 0);
  EXPECT_EQ(f.header["code"], "out_of_memory");
  auto parsed = ParseFailed(Wire(f));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->job_id, 0u);
  EXPECT_EQ(parsed->code, ErrorCode::kOutOfMemory);
  EXPECT_EQ(parsed->message, "out of memory: cannot create context");
}

TEST(MessagesTest, RejectsMissingAndMistypedFields) {
  Frame f = ToFrame(Piece{1, "x"});
  f.header.erase("job");
  EXPECT_FALSE(ParsePiece(f).ok());
  f = ToFrame(Piece{1, "x"});
  f.header["text"] = 5;
  auto r = ParsePiece(f);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("piece.text"), std::string::npos);
  f = ToFrame(Piece{1, "x"});
  f.header["job"] = -1;
  EXPECT_FALSE(ParsePiece(f).ok());
}

TEST(MessagesTest, RejectsOutOfRangeSampling) {
  Job job;
  job.job_id = 1;
  Frame f = ToFrame(job);
  f.header["params"]["temperature"] = -1;
  EXPECT_FALSE(ParseJob(f).ok());
  f = ToFrame(job);
  f.header["params"]["top_p"] = 1.5;
  EXPECT_FALSE(ParseJob(f).ok());
  f = ToFrame(job);
  f.header["params"]["stop"] = {""};
  EXPECT_FALSE(ParseJob(f).ok());
}

TEST(MessagesTest, HelloAndHeartbeat) {
  auto hello = ParseHello(Wire(ToFrame(Hello{1, "chaos", 1234})));
  ASSERT_TRUE(hello.ok());
  EXPECT_EQ(hello->engine, "chaos");
  auto hb = ParseHeartbeat(Wire(ToFrame(Heartbeat{"decode", 9, 77})));
  ASSERT_TRUE(hb.ok());
  EXPECT_EQ(hb->progress, 77u);
  Frame bad = ToFrame(Hello{1, "chaos", 0});
  EXPECT_FALSE(ParseHello(bad).ok());  // pid 0 is out of range
}

}  // namespace
}  // namespace vigil::protocol
