// value.h: the values a chat template computes with, with Python's meaning
// (chat templates are written for Python's jinja2): None, bool, int, float,
// str, list, dict (insertion-ordered, string keys), callables (macros,
// methods, globals), and jinja2's Undefined (prints as "", is false, fails
// on attribute access).
//
// Lists and dicts are shared, as Python's are: a namespace() is a dict whose
// attributes `{% set ns.x = ... %}` assigns in place.
// Errors: operations that Python or jinja2 would raise for throw
// TemplateError; template.cc turns it into a typed Error at the API.
// Thread-safety: values are not shared between renders; none.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vigil::worker::chat_template {

// What the interpreter throws; never escapes template.h's API.
struct TemplateError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Value;
using List = std::vector<Value>;
using Dict = std::vector<std::pair<std::string, Value>>;

struct Args {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> named;
  // The argument at `index` or named `name`; nullptr when absent.
  const Value* Get(size_t index, std::string_view name) const;
};
using Function = std::function<Value(const Args&)>;

class Value {
 public:
  enum class Type { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kFunction };

  Value() = default;  // undefined
  static Value Undefined(std::string name) { Value v; v.str_ = std::move(name); return v; }
  static Value None() { Value v; v.type_ = Type::kNone; return v; }
  Value(bool b) : type_(Type::kBool), int_(b) {}
  Value(int64_t i) : type_(Type::kInt), int_(i) {}
  Value(int i) : type_(Type::kInt), int_(i) {}
  Value(double d) : type_(Type::kFloat), float_(d) {}
  Value(std::string s) : type_(Type::kString), str_(std::move(s)) {}
  Value(const char* s) : type_(Type::kString), str_(s) {}
  Value(List l) : type_(Type::kList), list_(std::make_shared<List>(std::move(l))) {}
  Value(Dict d) : type_(Type::kDict), dict_(std::make_shared<Dict>(std::move(d))) {}
  static Value Callable(Function f) { Value v; v.type_ = Type::kFunction; v.fn_ = std::make_shared<Function>(std::move(f)); return v; }

  Type type() const { return type_; }
  bool is_undefined() const { return type_ == Type::kUndefined; }
  bool is_none() const { return type_ == Type::kNone; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_int() const { return type_ == Type::kInt || type_ == Type::kBool; }
  bool is_number() const { return is_int() || type_ == Type::kFloat; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_list() const { return type_ == Type::kList; }
  bool is_dict() const { return type_ == Type::kDict; }
  bool is_callable() const { return type_ == Type::kFunction; }

  bool AsBool() const { return int_ != 0; }
  int64_t AsInt() const { return type_ == Type::kFloat ? Truncate(float_) : int_; }
  // int(x) for a float, saturated: NaN is 0, out of range the nearest bound.
  static int64_t Truncate(double d) {
    if (d != d) return 0;
    if (d >= 9223372036854775807.0) return INT64_MAX;
    if (d <= -9223372036854775808.0) return INT64_MIN;
    return static_cast<int64_t>(d);
  }
  double AsDouble() const { return type_ == Type::kFloat ? float_ : static_cast<double>(int_); }
  const std::string& AsString() const { return str_; }  // also an undefined's name
  List& AsList() const { return *list_; }
  Dict& AsDict() const { return *dict_; }
  const Function& AsFunction() const { return *fn_; }

  // Python's truth value.
  bool Truthy() const;
  // str(value) as jinja2 prints it ({{ x }}); undefined prints "".
  std::string Str() const;
  // repr(value): how Python prints an item of a list or dict.
  std::string Repr() const;
  // json.dumps(value, ensure_ascii=False, indent=indent) as transformers'
  // tojson filter calls it; indent < 0: none.
  std::string ToJson(int indent = -1) const;
  // The entry of a dict, nullptr if absent. REQUIRES: is_dict().
  const Value* Find(std::string_view key) const;
  // Python's len(); throws for values without one.
  int64_t Length() const;
  // The items `for x in value` visits (dict: keys; string: characters;
  // undefined: none).
  List Items() const;
  // A printable name of the type, for errors ("int", "str", ...).
  std::string_view TypeName() const;

 private:
  Type type_ = Type::kUndefined;
  int64_t int_ = 0;
  double float_ = 0;
  std::string str_;
  std::shared_ptr<List> list_;
  std::shared_ptr<Dict> dict_;
  std::shared_ptr<Function> fn_;
};

// Python ==, with 1 == 1.0 == True.
bool Equal(const Value& a, const Value& b);
// Python <; throws for values that do not order.
bool Less(const Value& a, const Value& b);
// Python's float repr (shortest round trip: 0.1, 1.0, 1e+20).
std::string FloatRepr(double d);
// UTF-8 code points of s, one string each (Python iterates characters).
std::vector<std::string> CodePoints(std::string_view s);

}  // namespace vigil::worker::chat_template
