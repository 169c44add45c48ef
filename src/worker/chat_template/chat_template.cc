#include "worker/chat_template/chat_template.h"

#include "worker/chat_template/ast.h"
#include "worker/chat_template/render.h"

namespace vigil::worker::chat_template {
namespace {

Value FromJson(const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return Value::None();
    case nlohmann::ordered_json::value_t::boolean: return Value(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
    case nlohmann::ordered_json::value_t::number_unsigned: return Value(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_float: return Value(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      List l;
      for (const auto& x : j) l.push_back(FromJson(x));
      return Value(std::move(l));
    }
    case nlohmann::ordered_json::value_t::object: {
      Dict d;
      for (const auto& [k, v] : j.items()) d.emplace_back(k, FromJson(v));
      return Value(std::move(d));
    }
    default: return Value();
  }
}

Error Bad(const std::string& what) { return MakeError(ErrorCode::kInvalidRequest, "chat template: " + what); }

}  // namespace

Result<ChatTemplate> ChatTemplate::Parse(std::string_view source) {
  try {
    ChatTemplate t;
    t.body_ = std::make_shared<const Body>(ParseTemplate(source));
    return t;
  } catch (const TemplateError& e) {
    return Bad(e.what());
  }
}

Result<std::string> ChatTemplate::Render(const nlohmann::ordered_json& context) const {
  if (!context.is_object()) return Bad("the context must be an object");
  try {
    return RenderBody(*body_, FromJson(context).AsDict());
  } catch (const TemplateError& e) {
    return Bad(e.what());
  }
}

}  // namespace vigil::worker::chat_template
