// Tests of the front's hand-written parsers and request validation.
#include <gtest/gtest.h>

#include "front/base64.h"
#include "front/job_request.h"
#include "front/json_body.h"
#include "front/multipart.h"
#include "front/text.h"

namespace vigil::front {
namespace {

TEST(Base64, RoundTripAndStrictness) {
  for (std::string s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar", std::string("\0\xff\x10", 3)}) {
    auto d = DecodeBase64(EncodeBase64(s));
    ASSERT_TRUE(d.has_value()) << s;
    EXPECT_EQ(*d, s);
  }
  EXPECT_EQ(*DecodeBase64("Zm9v\r\nYmFy"), "foobar");
  EXPECT_EQ(*DecodeBase64("Zm8"), "fo");  // padding optional
  EXPECT_FALSE(DecodeBase64("Zm9v!"));
  EXPECT_FALSE(DecodeBase64("Zm9=v"));     // data after padding
  EXPECT_FALSE(DecodeBase64("Z"));         // impossible length
  EXPECT_FALSE(DecodeBase64("Zm9==="));    // too much padding
  EXPECT_FALSE(DecodeBase64("Zm9 v"));     // spaces are not base64
  EXPECT_FALSE(DecodeBase64("Zh=="));      // non-zero trailing bits
}

TEST(DataUri, Parses) {
  auto u = ParseDataUri("data:image/PNG;base64,Zm9v");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->media_type, "image/png");
  EXPECT_EQ(u->data, "foo");
  EXPECT_FALSE(ParseDataUri("data:image/png,foo").ok());  // not base64
  EXPECT_FALSE(ParseDataUri("data:image/png;base64").ok());
  EXPECT_FALSE(ParseDataUri("http://x/y.png").ok());
  EXPECT_EQ(*DecodeImageField("Zm9v"), "foo");
}

TEST(Multipart, Parses) {
  const std::string body =
      "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a b.png\"\r\n"
      "Content-Type: Image/PNG\r\n\r\n\x89PNG\r\n--not-it\r\n--XyZ\r\n"
      "Content-Disposition: form-data; name=prompt\r\n\r\nhello\r\n--XyZ--\r\n";
  auto b = MultipartBoundary("multipart/form-data; boundary=\"XyZ\"");
  ASSERT_TRUE(b.ok());
  auto parts = ParseMultipart(body, *b, 16);
  ASSERT_TRUE(parts.ok()) << parts.error().message;
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].name, "image");
  EXPECT_EQ((*parts)[0].filename, "a b.png");
  EXPECT_EQ((*parts)[0].content_type, "image/png");
  EXPECT_EQ((*parts)[0].data, "\x89PNG\r\n--not-it");
  EXPECT_EQ((*parts)[1].data, "hello");
}

TEST(Multipart, Rejects) {
  EXPECT_FALSE(MultipartBoundary("multipart/form-data").ok());
  EXPECT_FALSE(MultipartBoundary("application/json; boundary=x").ok());
  const std::string part = "--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n";
  EXPECT_FALSE(ParseMultipart(part, "b", 16).ok());  // never closed
  EXPECT_FALSE(ParseMultipart("--b\r\nX: y\r\n\r\n1\r\n--b--", "b", 16).ok());  // no disposition
  std::string many;
  for (int i = 0; i < 5; ++i) many += part;
  auto r = ParseMultipart(many + "--b--", "b", 4);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kPayloadTooLarge);
  EXPECT_TRUE(ParseMultipart(many + "--b--", "b", 5).ok());  // exactly at the limit
}

TEST(JsonBody, DuplicatesAndDepth) {
  EXPECT_TRUE(ParseJsonBody(R"({"a": {"a": 1}, "b": [1, {"a": 2}]})", 8).ok());
  EXPECT_FALSE(ParseJsonBody(R"({"a": 1, "a": 2})", 8).ok());
  EXPECT_FALSE(ParseJsonBody(R"({"x": {"a": 1, "a": 2}})", 8).ok());
  EXPECT_FALSE(ParseJsonBody("[1]", 8).ok());
  EXPECT_FALSE(ParseJsonBody("{", 8).ok());
  const std::string deep = "{\"a\":" + std::string(40, '[') + std::string(40, ']') + "}";
  EXPECT_FALSE(ParseJsonBody(deep, 32).ok());
  EXPECT_TRUE(ParseJsonBody(deep, 64).ok());
}

TEST(Text, Utf8AndCompare) {
  EXPECT_TRUE(IsValidUtf8("héllo 日本 🎉"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xe6\x97"));          // truncated
  EXPECT_TRUE(ConstantTimeEquals("key", "key"));
  EXPECT_FALSE(ConstantTimeEquals("key", "kex"));
  EXPECT_FALSE(ConstantTimeEquals("key", "key2"));
  EXPECT_FALSE(ConstantTimeEquals("", "k"));
}

TEST(JobRequest, SamplingAndFault) {
  ParseOptions opts;
  auto r = ParseChatRequest(R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4096,
                                 "temperature": 0.5, "top_p": 0.9, "seed": 7, "stop": ["a", "b"]})", opts);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->spec.params.max_tokens, 4096);
  EXPECT_EQ(r->spec.params.stop.size(), 2u);
  EXPECT_EQ(r->spec.prompt, "hi");
  EXPECT_FALSE(r->spec.params.ignore_eos);
  auto eos = ParseChatRequest(R"({"messages": [{"role": "user", "content": "hi"}], "ignore_eos": true})", opts);
  ASSERT_TRUE(eos.ok()) << eos.error().message;
  EXPECT_TRUE(eos->spec.params.ignore_eos);
  EXPECT_FALSE(ParseChatRequest(R"({"messages": [{"role": "user", "content": "hi"}], "ignore_eos": 1})", opts).ok());
  EXPECT_FALSE(ParseChatRequest(R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4097})", opts).ok());
  EXPECT_FALSE(ParseChatRequest(R"({"messages": [{"role": "user", "content": ""}]})", opts).ok());
  EXPECT_FALSE(ParseChatRequest(R"({"messages": []})", opts).ok());
  auto f = ParseFaultText("kind=segfault;at=after_tokens;after_tokens=3;exit_code=7;every_attempt=1");
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->spec.after_tokens, 3);
  EXPECT_EQ(f->spec.exit_code, 7);
  EXPECT_TRUE(f->every_attempt);
  EXPECT_FALSE(ParseFaultText("kind=segfault;at=later").ok());
  EXPECT_FALSE(ParseFaultText("kind=boom").ok());
  // A fault in the body without --allow-fault-injection is refused.
  auto refused = ParseChatRequest(R"({"messages": [{"role": "user", "content": "hi"}], "fault": "kind=abort"})", opts);
  EXPECT_FALSE(refused.ok());
  opts.allow_fault = true;
  auto allowed = ParseChatRequest(R"({"messages": [{"role": "user", "content": "hi"}], "fault": "kind=abort"})", opts);
  ASSERT_TRUE(allowed.ok());
  EXPECT_EQ(allowed->spec.fault->kind, "abort");
}

TEST(JobRequest, ConversationIsFolded) {
  auto r = ParseChatRequest(R"({"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U"},
                                              {"role": "assistant", "content": "A"}, {"role": "user", "content": "V"}]})",
                            ParseOptions{});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->spec.prompt, "System: S\nUser: U\nAssistant: A\nUser: V\n");
}

}  // namespace
}  // namespace vigil::front
