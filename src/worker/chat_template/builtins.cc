#include "worker/chat_template/builtins.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>

namespace vigil::worker::chat_template {
namespace {


bool IsWs(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string Strip(const std::string& s, const Value& chars, bool left, bool right) {
  auto in = [&](char c) {
    return chars.is_string() ? chars.AsString().find(c) != std::string::npos : IsWs(c);
  };
  size_t b = 0, e = s.size();
  if (left) while (b < e && in(s[b])) ++b;
  if (right) while (e > b && in(s[e - 1])) --e;
  return s.substr(b, e - b);
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
std::string Capitalize(const std::string& s) {
  std::string out = Lower(s);
  if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}
std::string Title(const std::string& s) {
  std::string out;
  bool start = true;
  for (char c : s) {
    const bool alpha = std::isalnum(static_cast<unsigned char>(c));
    out += alpha ? static_cast<char>(start ? std::toupper(static_cast<unsigned char>(c)) : std::tolower(static_cast<unsigned char>(c))) : c;
    start = !alpha && c != '\'';
  }
  return out;
}

std::string Replace(const std::string& s, const std::string& from, const std::string& to, int64_t count) {
  std::string out;
  size_t pos = 0;
  for (int64_t n = 0; count < 0 || n < count; ++n) {
    const size_t hit = from.empty() ? (pos <= s.size() ? pos : std::string::npos) : s.find(from, pos);
    if (hit == std::string::npos) break;
    out += s.substr(pos, hit - pos) + to;
    if (from.empty()) {
      if (hit >= s.size()) { pos = s.size() + 1; break; }
      out += s[hit];
      pos = hit + 1;
    } else {
      pos = hit + from.size();
    }
  }
  if (pos <= s.size()) out += s.substr(pos);
  return out;
}

Value Split(const std::string& s, const Value& sep, int64_t max) {
  List out;
  if (!sep.is_string()) {  // whitespace runs
    size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && IsWs(s[i])) ++i;
      if (i >= s.size()) break;
      if (max >= 0 && static_cast<int64_t>(out.size()) == max) {
        out.emplace_back(Strip(s.substr(i), Value(), false, true));
        break;
      }
      size_t j = i;
      while (j < s.size() && !IsWs(s[j])) ++j;
      out.emplace_back(s.substr(i, j - i));
      i = j;
    }
    return Value(std::move(out));
  }
  const std::string& d = sep.AsString();
  if (d.empty()) Fail("empty separator");
  size_t pos = 0;
  for (;;) {
    const size_t hit = s.find(d, pos);
    if (hit == std::string::npos || (max >= 0 && static_cast<int64_t>(out.size()) == max)) break;
    out.emplace_back(s.substr(pos, hit - pos));
    pos = hit + d.size();
  }
  out.emplace_back(s.substr(pos));
  return Value(std::move(out));
}

bool AffixMatch(const std::string& s, const Value& affix, bool start) {
  auto one = [&](const Value& a) {
    if (!a.is_string()) Fail("startswith/endswith takes a string or a tuple of strings");
    const std::string& x = a.AsString();
    return x.size() <= s.size() && (start ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0);
  };
  if (affix.is_list()) return std::any_of(affix.AsList().begin(), affix.AsList().end(), one);
  return one(affix);
}

Value StringMethod(const std::string& s, const std::string& name) {
  auto bind = [&](auto fn) { return Value::Callable([s, fn](const Args& a) { return fn(s, a); }); };
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const bool l = name != "rstrip", r = name != "lstrip";
    return bind([l, r](const std::string& x, const Args& a) { return Value(Strip(x, Arg(a, 0, "chars", Value()), l, r)); });
  }
  if (name == "split") {
    return bind([](const std::string& x, const Args& a) {
      return Split(x, Arg(a, 0, "sep", Value::None()), Arg(a, 1, "maxsplit", Value(-1)).AsInt());
    });
  }
  if (name == "startswith" || name == "endswith") {
    const bool start = name == "startswith";
    return bind([start](const std::string& x, const Args& a) { return Value(AffixMatch(x, Arg(a, 0, "prefix", Value()), start)); });
  }
  if (name == "upper") return bind([](const std::string& x, const Args&) { return Value(Upper(x)); });
  if (name == "lower") return bind([](const std::string& x, const Args&) { return Value(Lower(x)); });
  if (name == "title") return bind([](const std::string& x, const Args&) { return Value(Title(x)); });
  if (name == "capitalize") return bind([](const std::string& x, const Args&) { return Value(Capitalize(x)); });
  if (name == "replace") {
    return bind([](const std::string& x, const Args& a) {
      const Value &f = Arg(a, 0, "old", Value()), &t = Arg(a, 1, "new", Value());
      if (!f.is_string() || !t.is_string()) Fail("replace() takes strings");
      return Value(Replace(x, f.AsString(), t.AsString(), Arg(a, 2, "count", Value(-1)).AsInt()));
    });
  }
  if (name == "find") {
    return bind([](const std::string& x, const Args& a) {
      const Value& f = Arg(a, 0, "sub", Value());
      if (!f.is_string()) Fail("find() takes a string");
      const size_t at = x.find(f.AsString());
      return Value(at == std::string::npos ? int64_t{-1} : static_cast<int64_t>(CodePoints(x.substr(0, at)).size()));
    });
  }
  return Value::Undefined(name);
}

Value DictMethod(const Value& d, const std::string& name) {
  if (name == "items") {
    return Value::Callable([d](const Args&) {
      List out;
      for (const auto& [k, v] : d.AsDict()) out.emplace_back(List{Value(k), v});
      return Value(std::move(out));
    });
  }
  if (name == "keys") return Value::Callable([d](const Args&) { return Value(d.Items()); });
  if (name == "values") {
    return Value::Callable([d](const Args&) {
      List out;
      for (const auto& kv : d.AsDict()) out.push_back(kv.second);
      return Value(std::move(out));
    });
  }
  if (name == "get") {
    return Value::Callable([d](const Args& a) {
      const Value& k = Arg(a, 0, "key", Value());
      const Value* v = k.is_string() ? d.Find(k.AsString()) : nullptr;
      return v ? *v : Arg(a, 1, "default", Value::None());
    });
  }
  return Value::Undefined(name);
}

}  // namespace

Value GetAttr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) Fail("'" + (obj.AsString().empty() ? std::string("value") : obj.AsString()) + "' is undefined");
  if (obj.is_string()) return StringMethod(obj.AsString(), name);
  if (obj.is_dict()) {
    Value m = DictMethod(obj, name);
    if (!m.is_undefined()) return m;
    const Value* v = obj.Find(name);
    return v ? *v : Value::Undefined(name);
  }
  return Value::Undefined(name);
}

Value GetItem(const Value& obj, const Value& key) {
  if (obj.is_undefined()) Fail("'" + (obj.AsString().empty() ? std::string("value") : obj.AsString()) + "' is undefined");
  if (obj.is_dict() && key.is_string()) {
    const Value* v = obj.Find(key.AsString());
    return v ? *v : Value::Undefined(key.AsString());
  }
  if ((obj.is_list() || obj.is_string()) && key.is_int()) {
    const List items = obj.is_list() ? obj.AsList() : obj.Items();
    int64_t i = key.AsInt();
    if (i < 0) i += static_cast<int64_t>(items.size());
    if (i < 0 || i >= static_cast<int64_t>(items.size())) return Value::Undefined("[" + key.Repr() + "]");
    return items[static_cast<size_t>(i)];
  }
  if (key.is_string()) return GetAttr(obj, key.AsString());
  return Value::Undefined(key.Repr());
}

Value Global(const std::string& name) {
  if (name == "range") {
    return Value::Callable([](const Args& a) {
      int64_t start = 0, stop = 0, step = 1;
      for (const auto& v : a.positional) if (!v.is_int()) Fail("range() takes integers");
      if (a.positional.size() == 1) stop = a.positional[0].AsInt();
      else if (a.positional.size() >= 2) start = a.positional[0].AsInt(), stop = a.positional[1].AsInt();
      if (a.positional.size() >= 3) step = a.positional[2].AsInt();
      if (step == 0) Fail("range() arg 3 must not be zero");
      List out;
      for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        if (out.size() >= 100000) Fail("range too large");
        out.emplace_back(i);
      }
      return Value(std::move(out));
    });
  }
  if (name == "namespace" || name == "dict") {
    return Value::Callable([](const Args& a) {
      Dict d;
      for (const auto& [k, v] : a.named) d.emplace_back(k, v);
      return Value(std::move(d));
    });
  }
  if (name == "raise_exception") {
    return Value::Callable([](const Args& a) -> Value {
      Fail("raise_exception: " + (a.positional.empty() ? std::string() : a.positional[0].Str()));
    });
  }
  if (name == "strftime_now") {
    return Value::Callable([](const Args& a) {
      const Value& fmt = Arg(a, 0, "format", Value());
      if (!fmt.is_string()) Fail("strftime_now() takes a format string");
      const std::time_t now = std::time(nullptr);
      std::tm tm{};
      localtime_r(&now, &tm);
      char buf[256];
      const size_t n = std::strftime(buf, sizeof buf, fmt.AsString().c_str(), &tm);
      return Value(std::string(buf, n));
    });
  }
  return Value::Undefined(name);
}

}  // namespace vigil::worker::chat_template
