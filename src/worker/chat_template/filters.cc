// jinja2's filters and tests (builtins.h), as jinja2 3.1 defines them.
#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "worker/chat_template/ast.h"
#include "worker/chat_template/builtins.h"

namespace vigil::worker::chat_template {
namespace {


// "a.b.c" or an integer index, as jinja2's make_attrgetter.
Value Attribute(const Value& v, const Value& path) {
  if (path.is_int()) return GetItem(v, path);
  Value cur = v;
  const std::string& p = path.AsString();
  size_t from = 0;
  for (;;) {
    const size_t dot = p.find('.', from);
    const std::string part = p.substr(from, dot == std::string::npos ? std::string::npos : dot - from);
    const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    cur = GetItem(cur, digits ? Value(static_cast<int64_t>(std::atoll(part.c_str()))) : Value(part));
    if (dot == std::string::npos) return cur;
    from = dot + 1;
  }
}

// select/reject/selectattr/rejectattr: args are (attr?, test, test args...).
Value SelectLike(const Value& in, const Args& a, bool by_attr, bool keep) {
  List out;
  size_t k = 0;
  Value attr;
  if (by_attr) {
    if (a.positional.empty()) Fail("selectattr/rejectattr need an attribute");
    attr = a.positional[k++];
  }
  const bool has_test = a.positional.size() > k;
  std::string test = has_test ? a.positional[k].Str() : "";
  if (has_test && !IsKnownTest(test)) Fail("unsupported test '" + test + "'");
  Args targs;
  targs.positional.assign(a.positional.begin() + static_cast<std::ptrdiff_t>(std::min(a.positional.size(), k + 1)),
                          a.positional.end());
  for (const Value& item : in.Items()) {
    const Value x = by_attr ? Attribute(item, attr) : item;
    const bool pass = has_test ? CallTest(test, x, targs) : x.Truthy();
    if (pass == keep) out.push_back(item);
  }
  return Value(std::move(out));
}

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::vector<std::string> SplitLines(const std::string& s) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t nl = s.find('\n', pos);
    if (nl == std::string::npos) {
      lines.push_back(s.substr(pos));
      break;
    }
    lines.push_back(s.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

Value Indent(const Value& in, const Args& a) {
  const Value& w = Arg(a, 0, "width", Value(4));
  const std::string ind = w.is_string() ? w.AsString() : std::string(static_cast<size_t>(std::max<int64_t>(0, w.AsInt())), ' ');
  const bool first = Arg(a, 1, "first", Value(false)).Truthy(), blank = Arg(a, 2, "blank", Value(false)).Truthy();
  std::vector<std::string> lines = SplitLines(in.Str() + "\n");
  std::string rv;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) rv += "\n";
    rv += (i > 0 && (blank || !lines[i].empty())) ? ind + lines[i] : lines[i];
  }
  return Value(first ? ind + rv : rv);
}

Value ToInt(const Value& in, const Args& a) {
  const Value& def = Arg(a, 0, "default", Value(0));
  if (in.is_int()) return Value(in.AsInt());
  if (in.type() == Value::Type::kFloat) return Value(static_cast<int64_t>(in.AsDouble()));
  if (in.is_string()) {
    const std::string s = in.AsString();
    char* end = nullptr;
    const long long i = std::strtoll(s.c_str(), &end, 10);
    if (!s.empty() && *end == 0) return Value(static_cast<int64_t>(i));
    const double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && *end == 0) return Value(static_cast<int64_t>(d));
  }
  return def;
}

Value Sorted(const Value& in, const Args& a) {
  List items = in.Items();
  const bool reverse = Arg(a, 0, "reverse", Value(false)).Truthy();
  const bool case_sensitive = Arg(a, 1, "case_sensitive", Value(false)).Truthy();
  const Value& attr = Arg(a, 2, "attribute", Value::None());
  auto key = [&](const Value& v) {
    Value k = attr.is_none() ? v : Attribute(v, attr);
    if (!case_sensitive && k.is_string()) {
      std::string s = k.AsString();
      for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return Value(s);
    }
    return k;
  };
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    return reverse ? Less(key(y), key(x)) : Less(key(x), key(y));
  });
  return Value(std::move(items));
}

using FilterFn = Value (*)(const Value&, const Args&);
struct FilterEntry {
  const char* name;
  FilterFn fn;
};

const FilterEntry kFilters[] = {
    {"abs", [](const Value& v, const Args&) { return v.is_int() ? Value(static_cast<int64_t>(std::llabs(v.AsInt()))) : Value(std::fabs(v.AsDouble())); }},
    {"attr", [](const Value& v, const Args& a) { return GetAttr(v, Arg(a, 0, "name", Value("")).Str()); }},
    {"capitalize", [](const Value& v, const Args&) { return GetAttr(Value(v.Str()), "capitalize").AsFunction()({}); }},
    {"count", [](const Value& v, const Args&) { return Value(v.Length()); }},
    {"d", [](const Value& v, const Args& a) {
       const bool boolean = Arg(a, 1, "boolean", Value(false)).Truthy();
       return (v.is_undefined() || (boolean && !v.Truthy())) ? Arg(a, 0, "default_value", Value("")) : v;
     }},
    {"default", nullptr},
    {"dictsort", [](const Value& v, const Args&) {
       if (!v.is_dict()) Fail("dictsort expects a mapping");
       List pairs = GetAttr(v, "items").AsFunction()({}).AsList();
       std::stable_sort(pairs.begin(), pairs.end(), [](const Value& x, const Value& y) { return Less(x.AsList()[0], y.AsList()[0]); });
       return Value(std::move(pairs));
     }},
    {"e", [](const Value& v, const Args&) { return Value(Escape(v.Str())); }},
    {"escape", nullptr},
    {"first", [](const Value& v, const Args&) { List l = v.Items(); return l.empty() ? Value::Undefined("first") : l.front(); }},
    {"float", [](const Value& v, const Args& a) {
       if (v.is_number()) return Value(v.AsDouble());
       char* end = nullptr;
       const double d = v.is_string() ? std::strtod(v.AsString().c_str(), &end) : 0;
       return v.is_string() && !v.AsString().empty() && *end == 0 ? Value(d) : Arg(a, 0, "default", Value(0.0));
     }},
    {"format", [](const Value& v, const Args& a) {  // Python's "%s" % args: %s %d %%
       const std::string& f = v.Str();
       std::string out;
       size_t next = 0;
       for (size_t i = 0; i < f.size(); ++i) {
         if (f[i] != '%' || i + 1 >= f.size()) { out += f[i]; continue; }
         const char c = f[++i];
         if (c == '%') { out += '%'; continue; }
         if (next >= a.positional.size()) Fail("not enough arguments for format string");
         const Value& x = a.positional[next++];
         if (c == 's') out += x.Str();
         else if (c == 'd' && x.is_number()) out += std::to_string(x.AsInt());
         else Fail(std::string("unsupported format '%") + c + "'");
       }
       if (next < a.positional.size()) Fail("not all arguments converted during string formatting");
       return Value(out);
     }},
    {"indent", Indent},
    {"int", ToInt},
    {"items", [](const Value& v, const Args&) {
       if (v.is_undefined()) return Value(List{});
       if (!v.is_dict()) Fail("items filter expects a mapping");
       return GetAttr(v, "items").AsFunction()({});
     }},
    {"join", [](const Value& v, const Args& a) {
       const std::string sep = Arg(a, 0, "d", Value("")).Str();
       const Value& attr = Arg(a, 1, "attribute", Value::None());
       std::string out;
       bool first = true;
       for (const Value& x : v.Items()) {
         out += (first ? "" : sep) + (attr.is_none() ? x : Attribute(x, attr)).Str();
         first = false;
       }
       return Value(out);
     }},
    {"last", [](const Value& v, const Args&) { List l = v.Items(); return l.empty() ? Value::Undefined("last") : l.back(); }},
    {"length", nullptr},
    {"list", [](const Value& v, const Args&) { return Value(v.Items()); }},
    {"lower", [](const Value& v, const Args&) { return GetAttr(Value(v.Str()), "lower").AsFunction()({}); }},
    {"map", [](const Value& v, const Args& a) {
       List out;
       const Value* attr = a.Get(99, "attribute");
       for (const Value& x : v.Items()) {
         if (attr) {
           Value y = Attribute(x, *attr);
           out.push_back(y.is_undefined() && a.Get(99, "default") ? *a.Get(99, "default") : y);
         } else {
           if (a.positional.empty()) Fail("map needs a filter name or attribute=");
           const std::string f = a.positional[0].Str();
           if (!IsKnownFilter(f)) Fail("unsupported filter '" + f + "'");
           Args rest;
           rest.positional.assign(a.positional.begin() + 1, a.positional.end());
           out.push_back(CallFilter(f, x, rest));
         }
       }
       return Value(std::move(out));
     }},
    {"max", [](const Value& v, const Args&) {
       List l = v.Items();
       if (l.empty()) return Value::Undefined("max");
       return *std::max_element(l.begin(), l.end(), [](const Value& x, const Value& y) { return Less(x, y); });
     }},
    {"min", [](const Value& v, const Args&) {
       List l = v.Items();
       if (l.empty()) return Value::Undefined("min");
       return *std::min_element(l.begin(), l.end(), [](const Value& x, const Value& y) { return Less(x, y); });
     }},
    {"reject", [](const Value& v, const Args& a) { return SelectLike(v, a, false, false); }},
    {"rejectattr", [](const Value& v, const Args& a) { return SelectLike(v, a, true, false); }},
    {"replace", [](const Value& v, const Args& a) {
       Args b;
       b.positional = {Value(Arg(a, 0, "old", Value("")).Str()), Value(Arg(a, 1, "new", Value("")).Str()),
                       Arg(a, 2, "count", Value(-1))};
       return GetAttr(Value(v.Str()), "replace").AsFunction()(b);
     }},
    {"reverse", [](const Value& v, const Args&) {
       List l = v.Items();
       std::reverse(l.begin(), l.end());
       if (!v.is_string()) return Value(std::move(l));
       std::string s;
       for (const auto& c : l) s += c.AsString();
       return Value(s);
     }},
    {"round", [](const Value& v, const Args& a) {
       const double p = std::pow(10.0, static_cast<double>(Arg(a, 0, "precision", Value(0)).AsInt()));
       return Value(std::round(v.AsDouble() * p) / p);
     }},
    {"safe", [](const Value& v, const Args&) { return v; }},
    {"select", [](const Value& v, const Args& a) { return SelectLike(v, a, false, true); }},
    {"selectattr", [](const Value& v, const Args& a) { return SelectLike(v, a, true, true); }},
    {"sort", Sorted},
    {"string", [](const Value& v, const Args&) { return Value(v.Str()); }},
    {"sum", [](const Value& v, const Args&) {
       Value total(0);
       for (const Value& x : v.Items()) {
         if (!x.is_number()) Fail("sum of non-numbers");
         total = total.is_int() && x.is_int() ? Value(total.AsInt() + x.AsInt()) : Value(total.AsDouble() + x.AsDouble());
       }
       return total;
     }},
    {"title", [](const Value& v, const Args&) { return GetAttr(Value(v.Str()), "title").AsFunction()({}); }},
    {"tojson", [](const Value& v, const Args& a) {
       const Value& indent = Arg(a, 0, "indent", Value::None());
       return Value(v.ToJson(indent.is_int() ? static_cast<int>(indent.AsInt()) : -1));
     }},
    {"trim", [](const Value& v, const Args& a) {
       Args b;
       if (const Value* c = a.Get(0, "chars")) b.positional.push_back(*c);
       return GetAttr(Value(v.Str()), "strip").AsFunction()(b);
     }},
    {"unique", [](const Value& v, const Args&) {
       List out;
       for (const Value& x : v.Items()) {
         if (std::none_of(out.begin(), out.end(), [&](const Value& y) { return Equal(x, y); })) out.push_back(x);
       }
       return Value(std::move(out));
     }},
    {"upper", [](const Value& v, const Args&) { return GetAttr(Value(v.Str()), "upper").AsFunction()({}); }},
    {"wordcount", [](const Value& v, const Args&) { return Value(static_cast<int64_t>(GetAttr(Value(v.Str()), "split").AsFunction()({}).AsList().size())); }},
};

const char* Alias(std::string_view name) {
  if (name == "default") return "d";
  if (name == "escape") return "e";
  if (name == "length") return "count";
  return nullptr;
}

const FilterEntry* FindFilter(std::string_view name) {
  if (const char* a = Alias(name)) name = a;
  for (const auto& f : kFilters) {
    if (name == f.name && f.fn) return &f;
  }
  return nullptr;
}

const char* const kTests[] = {"boolean", "callable", "defined", "divisibleby", "eq", "equalto", "even", "false",
                              "float", "ge", "gt", "in", "integer", "iterable", "le", "lower", "lt", "mapping",
                              "ne", "none", "number", "odd", "sameas", "sequence", "string", "true", "undefined",
                              "upper"};

}  // namespace

bool IsKnownFilter(std::string_view name) { return FindFilter(name) != nullptr; }

bool IsKnownTest(std::string_view name) {
  return std::any_of(std::begin(kTests), std::end(kTests), [&](const char* t) { return name == t; });
}

Value CallFilter(std::string_view name, const Value& in, const Args& args) {
  const FilterEntry* f = FindFilter(name);
  if (!f) Fail("unsupported filter '" + std::string(name) + "'");
  return f->fn(in, args);
}

bool CallTest(std::string_view name, const Value& v, const Args& a) {
  const Value none = Value::None();
  const Value& x = Arg(a, 0, "value", none);
  using T = Value::Type;
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.AsBool();
  if (name == "false") return v.is_bool() && !v.AsBool();
  if (name == "integer") return v.type() == T::kInt;
  if (name == "float") return v.type() == T::kFloat;
  if (name == "number") return v.is_number();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict();
  if (name == "iterable") return v.is_list() || v.is_dict() || v.is_string() || v.is_undefined();
  if (name == "sequence") return v.is_list() || v.is_dict() || v.is_string();
  if (name == "callable") return v.is_callable();
  if (name == "odd" || name == "even") {
    if (!v.is_int()) Fail("odd/even need an integer");
    return (((v.AsInt() % 2) + 2) % 2 == 1) == (name == "odd");
  }
  if (name == "divisibleby") return x.is_int() && x.AsInt() != 0 && v.AsInt() % x.AsInt() == 0;
  if (name == "eq" || name == "equalto" || name == "sameas") return Equal(v, x);
  if (name == "ne") return !Equal(v, x);
  if (name == "lt") return Less(v, x);
  if (name == "gt") return Less(x, v);
  if (name == "le") return !Less(x, v);
  if (name == "ge") return !Less(v, x);
  if (name == "lower") return v.is_string() && v.AsString() == GetAttr(v, "lower").AsFunction()({}).AsString();
  if (name == "upper") return v.is_string() && v.AsString() == GetAttr(v, "upper").AsFunction()({}).AsString();
  if (name == "in") {
    if (x.is_string()) {
      if (!v.is_string()) Fail("'in <string>' requires string as left operand");
      return x.AsString().find(v.AsString()) != std::string::npos;
    }
    if (x.is_dict()) return v.is_string() && x.Find(v.AsString()) != nullptr;
    if (x.is_list()) return std::any_of(x.AsList().begin(), x.AsList().end(), [&](const Value& y) { return Equal(v, y); });
    if (x.is_undefined()) return false;
    Fail("argument of type '" + std::string(x.TypeName()) + "' is not iterable");
  }
  Fail("unsupported test '" + std::string(name) + "'");
}

}  // namespace vigil::worker::chat_template
