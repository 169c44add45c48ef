#include "worker/chat_template/value.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace vigil::worker::chat_template {

const Value* Args::Get(size_t index, std::string_view name) const {
  for (const auto& [k, v] : named) {
    if (k == name) return &v;
  }
  return index < positional.size() ? &positional[index] : nullptr;
}

bool Value::Truthy() const {
  switch (type_) {
    case Type::kUndefined: case Type::kNone: return false;
    case Type::kBool: case Type::kInt: return int_ != 0;
    case Type::kFloat: return float_ != 0;
    case Type::kString: return !str_.empty();
    case Type::kList: return !list_->empty();
    case Type::kDict: return !dict_->empty();
    case Type::kFunction: return true;
  }
  return false;
}

std::string FloatRepr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  // Python's repr: the shortest digits that read back as d, positional for
  // 1e-4 <= |d| < 1e16, else d.ddde+XX.
  char buf[64];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  const std::string t = buf;
  const size_t epos = t.find('e');
  const int exp = std::atoi(t.c_str() + epos + 1);
  std::string mant = t.substr(0, epos);
  const bool neg = mant[0] == '-';
  if (neg) mant.erase(0, 1);
  if (exp < -4 || exp >= 16) {
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    return (neg ? "-" : "") + mant + eb;
  }
  std::string digits = mant.substr(0, 1) + (mant.size() > 2 ? mant.substr(2) : "");
  std::string out;
  if (exp < 0) {
    out = "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
  } else if (static_cast<size_t>(exp) + 1 >= digits.size()) {
    out = digits + std::string(static_cast<size_t>(exp) + 1 - digits.size(), '0') + ".0";
  } else {
    out = digits.substr(0, static_cast<size_t>(exp) + 1) + "." + digits.substr(static_cast<size_t>(exp) + 1);
  }
  return (neg ? "-" : "") + out;
}

namespace {

std::string QuoteRepr(const std::string& s) {
  const bool dq = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
  const char q = dq ? '"' : '\'';
  std::string out(1, q);
  for (unsigned char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == static_cast<unsigned char>(q)) { out += '\\'; out += q; }
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) { char b[8]; std::snprintf(b, sizeof b, "\\x%02x", c); out += b; }
    else out += static_cast<char>(c);
  }
  return out + q;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          out += b;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

void Json(const Value& v, int indent, int depth, std::string& out) {
  const std::string nl = indent >= 0 ? "\n" + std::string(static_cast<size_t>(indent * (depth + 1)), ' ') : "";
  const std::string close = indent >= 0 ? "\n" + std::string(static_cast<size_t>(indent * depth), ' ') : "";
  const char* sep = indent >= 0 ? "," : ", ";
  switch (v.type()) {
    case Value::Type::kNone: out += "null"; return;
    case Value::Type::kBool: out += v.AsBool() ? "true" : "false"; return;
    case Value::Type::kInt: out += std::to_string(v.AsInt()); return;
    case Value::Type::kFloat:
      if (std::isnan(v.AsDouble())) { out += "NaN"; return; }
      if (std::isinf(v.AsDouble())) { out += v.AsDouble() > 0 ? "Infinity" : "-Infinity"; return; }
      out += FloatRepr(v.AsDouble());
      return;
    case Value::Type::kString: out += JsonString(v.AsString()); return;
    case Value::Type::kList: {
      if (v.AsList().empty()) { out += "[]"; return; }
      out += "[";
      bool first = true;
      for (const Value& x : v.AsList()) {
        if (!first) out += sep;
        first = false;
        out += nl;
        Json(x, indent, depth + 1, out);
      }
      out += close + "]";
      return;
    }
    case Value::Type::kDict: {
      if (v.AsDict().empty()) { out += "{}"; return; }
      out += "{";
      bool first = true;
      for (const auto& [k, x] : v.AsDict()) {
        if (!first) out += sep;
        first = false;
        out += nl + JsonString(k) + ": ";
        Json(x, indent, depth + 1, out);
      }
      out += close + "}";
      return;
    }
    default:
      throw TemplateError("Object of type " + std::string(v.TypeName()) + " is not JSON serializable");
  }
}

}  // namespace

std::string Value::Str() const {
  switch (type_) {
    case Type::kUndefined: return "";
    case Type::kString: return str_;
    default: return Repr();
  }
}

std::string Value::Repr() const {
  switch (type_) {
    case Type::kUndefined: return "";
    case Type::kNone: return "None";
    case Type::kBool: return int_ ? "True" : "False";
    case Type::kInt: return std::to_string(int_);
    case Type::kFloat: return FloatRepr(float_);
    case Type::kString: return QuoteRepr(str_);
    case Type::kList: {
      std::string out = "[";
      for (size_t i = 0; i < list_->size(); ++i) out += (i ? ", " : "") + (*list_)[i].Repr();
      return out + "]";
    }
    case Type::kDict: {
      std::string out = "{";
      for (size_t i = 0; i < dict_->size(); ++i) {
        out += (i ? ", " : "") + QuoteRepr((*dict_)[i].first) + ": " + (*dict_)[i].second.Repr();
      }
      return out + "}";
    }
    case Type::kFunction: return "<function>";
  }
  return "";
}

std::string Value::ToJson(int indent) const {
  std::string out;
  Json(*this, indent, 0, out);
  return out;
}

const Value* Value::Find(std::string_view key) const {
  for (const auto& [k, v] : *dict_) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::vector<std::string> CodePoints(std::string_view s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    n = std::min(n, s.size() - i);
    out.emplace_back(s.substr(i, n));
    i += n;
  }
  return out;
}

int64_t Value::Length() const {
  switch (type_) {
    case Type::kUndefined: return 0;
    case Type::kString: return static_cast<int64_t>(CodePoints(str_).size());
    case Type::kList: return static_cast<int64_t>(list_->size());
    case Type::kDict: return static_cast<int64_t>(dict_->size());
    default: throw TemplateError("object of type '" + std::string(TypeName()) + "' has no len()");
  }
}

List Value::Items() const {
  switch (type_) {
    case Type::kUndefined: return {};
    case Type::kList: return *list_;
    case Type::kDict: {
      List keys;
      for (const auto& kv : *dict_) keys.emplace_back(kv.first);
      return keys;
    }
    case Type::kString: {
      List chars;
      for (auto& c : CodePoints(str_)) chars.emplace_back(std::move(c));
      return chars;
    }
    default: throw TemplateError("'" + std::string(TypeName()) + "' object is not iterable");
  }
}

std::string_view Value::TypeName() const {
  switch (type_) {
    case Type::kUndefined: return "Undefined";
    case Type::kNone: return "NoneType";
    case Type::kBool: return "bool";
    case Type::kInt: return "int";
    case Type::kFloat: return "float";
    case Type::kString: return "str";
    case Type::kList: return "list";
    case Type::kDict: return "dict";
    case Type::kFunction: return "function";
  }
  return "?";
}

bool Equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_int() && b.is_int()) return a.AsInt() == b.AsInt();
    return a.AsDouble() == b.AsDouble();
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Value::Type::kUndefined: case Value::Type::kNone: return true;
    case Value::Type::kString: return a.AsString() == b.AsString();
    case Value::Type::kList: {
      if (a.AsList().size() != b.AsList().size()) return false;
      for (size_t i = 0; i < a.AsList().size(); ++i) {
        if (!Equal(a.AsList()[i], b.AsList()[i])) return false;
      }
      return true;
    }
    case Value::Type::kDict: {
      if (a.AsDict().size() != b.AsDict().size()) return false;
      for (const auto& [k, v] : a.AsDict()) {
        const Value* w = b.Find(k);
        if (!w || !Equal(v, *w)) return false;
      }
      return true;
    }
    default: return false;
  }
}

bool Less(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_int() && b.is_int()) return a.AsInt() < b.AsInt();
    return a.AsDouble() < b.AsDouble();
  }
  if (a.is_string() && b.is_string()) return a.AsString() < b.AsString();
  if (a.is_list() && b.is_list()) {
    const List &x = a.AsList(), &y = b.AsList();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (Less(x[i], y[i])) return true;
      if (Less(y[i], x[i])) return false;
    }
    return x.size() < y.size();
  }
  throw TemplateError("'<' not supported between instances of '" + std::string(a.TypeName()) + "' and '" +
                      std::string(b.TypeName()) + "'");
}

}  // namespace vigil::worker::chat_template
