// LlamaEngine: from a job's conversation to libmtmd's text and image chunks.
//
// Each message's parts become one string, as llama-server makes them: text
// parts and images (libmtmd's marker) joined by "\n", with no "\n" next to a
// marker (or a list of text parts, the markers among them, for a template
// that wants typed content). The model's chat template then renders the
// messages; libmtmd swaps each marker for the image's
// tokens (adding the model's own image delimiters).
#include <cstdio>

#include "common/log.h"
#include "worker/engine/llama_engine.h"

namespace vigil::worker {
namespace {

Error Internal(std::string what) { return MakeError(ErrorCode::kInternal, std::move(what)); }

}  // namespace

std::string LlamaEngine::SpecialText(llama_token token) const {
  if (token == LLAMA_TOKEN_NULL) return "";
  char buf[256];
  const int32_t n = llama_token_to_piece(vocab_, token, buf, sizeof buf, 0, /*special=*/true);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

Status LlamaEngine::LoadChatTemplate() {
  bos_text_ = SpecialText(llama_vocab_bos(vocab_));
  eos_text_ = SpecialText(llama_vocab_eos(vocab_));
  const char* source = llama_model_chat_template(model_, nullptr);
  if (!source) {
    chat_format_ = "builtin:chatml";
    LogWarn("builtin_template_chosen", {{"template", "chatml"}, {"why", "the model has no chat template"}});
    return OkStatus();
  }
  Result<chat_template::ChatTemplate> parsed = chat_template::ChatTemplate::Parse(source);
  if (!parsed) return MakeError(ErrorCode::kInvalidRequest, "the model's " + parsed.error().message);
  chat_template_ = std::move(*parsed);
  chat_format_ = "gguf";
  // As llama-server decides it: a template that prints a plain-string
  // content gets strings (parts joined by "\n"), else typed parts.
  const std::string needle = "<vigil-probe-7f3a>";
  nlohmann::ordered_json ctx = {{"messages", {{{"role", "user"}, {"content", needle}}}},
                                {"add_generation_prompt", false}, {"bos_token", bos_text_},
                                {"eos_token", eos_text_}};
  Result<std::string> plain = chat_template_->Render(ctx);
  typed_content_ = !plain || plain->find(needle) == std::string::npos;
  return OkStatus();
}

Result<std::string> LlamaEngine::FormatPrompt(const EngineJob& job) const {
  const std::string marker = mtmd_default_marker();
  std::vector<protocol::ChatMessage> messages = job.messages;
  if (messages.empty()) {  // /analyze: the images, then the prompt
    protocol::ChatMessage user{"user", {}};
    for (size_t i = 0; i < job.images.size(); ++i) user.content.push_back({protocol::ContentPart::Kind::kImage, {}});
    user.content.push_back({protocol::ContentPart::Kind::kText, job.prompt});
    messages.push_back(std::move(user));
  }
  nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
  std::vector<std::pair<std::string, std::string>> flat;
  for (const auto& m : messages) {
    std::string joined;
    nlohmann::ordered_json parts = nlohmann::ordered_json::array();
    bool after_image = false;
    for (const auto& part : m.content) {
      const bool image = part.kind == protocol::ContentPart::Kind::kImage;
      if (!image && part.text.find(marker) != std::string::npos) {
        return MakeError(ErrorCode::kInvalidRequest, "prompt contains the reserved marker " + marker);
      }
      const std::string& text = image ? marker : part.text;
      // llama-server joins parts with "\n" but none next to an image's marker.
      if (!joined.empty() && !image && !after_image) joined += "\n";
      after_image = image;
      joined += text;
      // A typed template sees an image's marker as a text part, as
      // llama-server renders it: templates such as SmolVLM's print only
      // "text" and "image" parts, and libmtmd needs the marker in the text.
      parts.push_back({{"type", "text"}, {"text", text}});
    }
    msgs.push_back({{"role", m.role}, {"content", typed_content_ ? parts : nlohmann::ordered_json(joined)}});
    flat.emplace_back(m.role, std::move(joined));
  }
  if (chat_template_) {
    nlohmann::ordered_json ctx = {{"messages", std::move(msgs)}, {"add_generation_prompt", true},
                                  {"bos_token", bos_text_}, {"eos_token", eos_text_}};
    Result<std::string> text = chat_template_->Render(ctx);
    if (!text) return MakeError(ErrorCode::kInvalidRequest, text.error().message);
    // The tokenizer adds BOS/EOS itself where the vocabulary says so; a
    // template that prints them too would double them (llama-server strips
    // them the same way).
    if (llama_vocab_get_add_bos(vocab_) && !bos_text_.empty() && text->starts_with(bos_text_)) {
      text->erase(0, bos_text_.size());
    }
    if (llama_vocab_get_add_eos(vocab_) && !eos_text_.empty() && text->ends_with(eos_text_)) {
      text->resize(text->size() - eos_text_.size());
    }
    return text;
  }
  std::vector<llama_chat_message> chat;
  size_t bytes = 0;
  for (const auto& [role, content] : flat) {
    chat.push_back({role.c_str(), content.c_str()});
    bytes += content.size();
  }
  std::vector<char> buf(bytes * 2 + 512);
  int32_t n = llama_chat_apply_template("chatml", chat.data(), chat.size(), /*add_ass=*/true, buf.data(),
                                        static_cast<int32_t>(buf.size()));
  if (n > static_cast<int32_t>(buf.size())) {
    buf.resize(static_cast<size_t>(n));
    n = llama_chat_apply_template("chatml", chat.data(), chat.size(), true, buf.data(), n);
  }
  if (n < 0) return Internal("llama_chat_apply_template failed");
  return std::string(buf.data(), static_cast<size_t>(n));
}

mtmd::input_chunks_ptr LlamaEngine::GreyImageChunks(uint32_t side) const {
  std::vector<unsigned char> grey(size_t{side} * side * 3, 128);
  mtmd::bitmap bitmap(mtmd_bitmap_init(side, side, grey.data()));
  mtmd::input_chunks_ptr chunks(mtmd_input_chunks_init());
  const std::string text = mtmd_default_marker();
  mtmd_input_text input{text.c_str(), text.size(), /*add_special=*/false, /*parse_special=*/true};
  const mtmd_bitmap* bitmaps[] = {bitmap.ptr.get()};
  if (!bitmap.ptr || mtmd_tokenize(mtmd_, chunks.get(), &input, bitmaps, 1) != 0) return nullptr;
  return chunks;
}

Result<mtmd::input_chunks_ptr> LlamaEngine::Tokenize(const std::string& text,
                                                     const std::vector<const imaging::RgbImage*>& images) {
  mtmd::input_chunks_ptr chunks(mtmd_input_chunks_init());
  std::vector<mtmd::bitmap> owned(images.size());
  std::vector<const mtmd_bitmap*> bitmaps;
  for (size_t i = 0; i < images.size(); ++i) {
    const imaging::RgbImage& image = *images[i];
    owned[i].ptr.reset(mtmd_bitmap_init(static_cast<uint32_t>(image.width),
                                        static_cast<uint32_t>(image.height), image.pixels.data()));
    if (!owned[i].ptr) return Internal("mtmd_bitmap_init failed");
    // The id travels to the image chunk(s): "<embedding-cache key>:<image
    // number>", so two copies of one picture in a job stay two images that
    // share one cache entry.
    std::string id = image_cache_.enabled()
                         ? EmbeddingCache::KeyOf(image.width, image.height, image.pixels.data())
                         : std::string();
    id += ":" + std::to_string(i + 1);
    owned[i].set_id(id.c_str());
    bitmaps.push_back(owned[i].ptr.get());
  }
  // The chunks keep the preprocessed images: the bitmaps may go after this.
  mtmd_input_text input{text.c_str(), text.size(), /*add_special=*/true, /*parse_special=*/true};
  const int32_t rc = mtmd_tokenize(mtmd_, chunks.get(), &input, bitmaps.data(), bitmaps.size());
  if (rc == 1) return MakeError(ErrorCode::kInvalidRequest, "image count does not match the prompt");
  if (rc == 2) return MakeError(ErrorCode::kInvalidImage, "the vision encoder rejected an image");
  if (rc != 0) return Internal("mtmd_tokenize failed: " + std::to_string(rc));
  return chunks;
}

}  // namespace vigil::worker
