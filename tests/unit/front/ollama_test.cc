// Tests of the Ollama body parsers (front/ollama_request.h): defaults,
// options mapping, images per message, the load request, typed errors.
#include <gtest/gtest.h>

#include "front/ollama_request.h"

namespace vigil::front {
namespace {

using nlohmann::json;

constexpr const char* kPng =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";

ParseOptions Opts() { return ParseOptions{Limits{}, false}; }

// Three images over two user turns.
std::string ThreeImagesInTwoTurns() {
  return json{{"model", "m"},
              {"messages", {{{"role", "user"}, {"content", "a"}, {"images", {kPng, kPng}}},
                            {{"role", "user"}, {"content", "b"}, {"images", {kPng}}}}}}
      .dump();
}

TEST(OllamaRequest, ChatStreamsByDefaultAndMapsOptions) {
  auto r = ParseOllamaChat(json{{"model", "m"},
                                {"messages", {{{"role", "user"}, {"content", "what?"}, {"images", {kPng}}}}},
                                {"options", {{"num_predict", 7}, {"temperature", 0.5}, {"top_k", 3},
                                             {"seed", 9}, {"stop", {"x"}}, {"num_ctx", 4096}}},
                                {"keep_alive", "5m"}, {"format", "json"}}.dump(),
                           Opts());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->load_only);
  EXPECT_TRUE(r->job.stream);
  EXPECT_EQ(r->model, "m");
  EXPECT_EQ(r->job.spec.params.max_tokens, 7);
  EXPECT_EQ(r->job.spec.params.top_k, 3);
  EXPECT_EQ(r->job.spec.params.stop, std::vector<std::string>{"x"});
  EXPECT_EQ(r->job.spec.prompt, "what?");
  ASSERT_EQ(r->job.spec.images.size(), 1u);
  ASSERT_EQ(r->job.spec.messages.size(), 1u);
  const auto& parts = r->job.spec.messages[0].content;
  ASSERT_EQ(parts.size(), 2u);  // the message's image before its text
  EXPECT_EQ(parts[0].kind, protocol::ContentPart::Kind::kImage);
  EXPECT_EQ(parts[1].text, "what?");
}

TEST(OllamaRequest, NumPredictMinusOneIsTheCeiling) {
  auto r = ParseOllamaGenerate(json{{"model", "m"}, {"prompt", "hi"}, {"options", {{"num_predict", -1}}}}.dump(), Opts());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->job.spec.params.max_tokens, Limits{}.max_tokens);
}

TEST(OllamaRequest, EmptyMessagesOrPromptIsALoadRequest) {
  auto chat = ParseOllamaChat(R"({"model": "m", "messages": []})", Opts());
  ASSERT_TRUE(chat.ok());
  EXPECT_TRUE(chat->load_only);
  auto gen = ParseOllamaGenerate(R"({"model": "m"})", Opts());
  ASSERT_TRUE(gen.ok());
  EXPECT_TRUE(gen->load_only);
  // An image without a prompt is a question: the default prompt.
  auto img = ParseOllamaGenerate(json{{"model", "m"}, {"images", {kPng}}, {"stream", false}}.dump(), Opts());
  ASSERT_TRUE(img.ok());
  EXPECT_FALSE(img->load_only);
  EXPECT_FALSE(img->job.stream);
  EXPECT_EQ(img->job.spec.prompt, kDefaultPrompt);
}

TEST(OllamaRequest, GenerateSystemBecomesASystemTurn) {
  auto r = ParseOllamaGenerate(json{{"model", "m"}, {"prompt", "p"}, {"system", "s"}, {"images", {kPng}}}.dump(), Opts());
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->job.spec.messages.size(), 2u);
  EXPECT_EQ(r->job.spec.messages[0].role, "system");
  EXPECT_EQ(r->job.spec.messages[1].content.size(), 2u);
  EXPECT_EQ(r->job.spec.route, "/api/generate");
}

TEST(OllamaRequest, SeveralImagesKeepTheirTurnsAndOrder) {
  auto chat = ParseOllamaChat(json{{"model", "m"},
                                   {"messages", {{{"role", "user"}, {"content", "both?"}, {"images", {kPng, kPng}}},
                                                 {{"role", "assistant"}, {"content", "yes"}},
                                                 {{"role", "user"}, {"content", "and?"}, {"images", {kPng}}}}}}
                                  .dump(),
                              Opts());
  ASSERT_TRUE(chat.ok()) << chat.error().message;
  EXPECT_EQ(chat->job.spec.images.size(), 3u);
  ASSERT_EQ(chat->job.spec.messages.size(), 3u);
  const auto& first = chat->job.spec.messages[0].content;
  ASSERT_EQ(first.size(), 3u);  // image, image, text
  EXPECT_EQ(first[1].kind, protocol::ContentPart::Kind::kImage);
  EXPECT_EQ(first[2].text, "both?");
  EXPECT_EQ(chat->job.spec.messages[2].content.size(), 2u);
  auto gen = ParseOllamaGenerate(json{{"model", "m"}, {"prompt", "p"}, {"images", {kPng, kPng}}}.dump(), Opts());
  ASSERT_TRUE(gen.ok());
  EXPECT_EQ(gen->job.spec.images.size(), 2u);
  // --max-images counts every image of the request, across messages.
  ParseOptions two = Opts();
  two.limits.max_images = 2;
  auto over = ParseOllamaChat(ThreeImagesInTwoTurns(), two);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, ErrorCode::kInvalidRequest);
  EXPECT_NE(over.error().message.find("--max-images"), std::string::npos);
  auto over_gen = ParseOllamaGenerate(json{{"model", "m"}, {"prompt", "p"}, {"images", {kPng, kPng, kPng}}}.dump(), two);
  ASSERT_FALSE(over_gen.ok());
  EXPECT_NE(over_gen.error().message.find("--max-images"), std::string::npos);
}

TEST(OllamaRequest, TypedErrors) {
  auto no_model = ParseOllamaChat(R"({"messages": [{"role": "user", "content": "hi"}]})", Opts());
  ASSERT_FALSE(no_model.ok());
  EXPECT_EQ(no_model.error().code, ErrorCode::kInvalidRequest);
  auto bad_image = ParseOllamaChat(
      R"({"model": "m", "messages": [{"role": "user", "content": "hi", "images": ["bm90IGFuIGltYWdl"]}]})", Opts());
  ASSERT_FALSE(bad_image.ok());
  EXPECT_EQ(bad_image.error().code, ErrorCode::kUnsupportedImageFormat);
  auto bad_role = ParseOllamaChat(R"({"model": "m", "messages": [{"role": 3, "content": "hi"}]})", Opts());
  ASSERT_FALSE(bad_role.ok());
  auto bad_stream = ParseOllamaGenerate(R"({"model": "m", "prompt": "hi", "stream": "yes"})", Opts());
  ASSERT_FALSE(bad_stream.ok());
  auto bad_option = ParseOllamaGenerate(R"({"model": "m", "prompt": "hi", "options": {"temperature": "hot"}})", Opts());
  ASSERT_FALSE(bad_option.ok());
  EXPECT_NE(bad_option.error().message.find("options"), std::string::npos);
}

}  // namespace
}  // namespace vigil::front
