// The renderer: walks the ast.h nodes with jinja2's scoping (a for loop's
// body is its own scope; a macro sees the template's top level and its
// arguments; if blocks share their parent's scope).
#include "worker/chat_template/render.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <unordered_map>

#include "worker/chat_template/builtins.h"

namespace vigil::worker::chat_template {
namespace {

constexpr size_t kMaxOutput = 16u << 20;  // bytes one render may produce
constexpr int kMaxDepth = 256;            // nested macro calls
constexpr int64_t kMaxIterations = 1'000'000;  // loop bodies one render may run

[[noreturn]] void Fail(int line, const std::string& what) {
  throw TemplateError("line " + std::to_string(line) + ": " + what);
}

using Frame = std::unordered_map<std::string, Value>;
enum class Flow { kNormal, kBreak, kContinue };

class Renderer {
 public:
  explicit Renderer(const Dict& context) {
    frames_.emplace_back();
    for (const auto& [k, v] : context) frames_.back()[k] = v;
  }

  std::string Run(const Body& body) {
    std::string out;
    Exec(body, out);
    return out;
  }

 private:
  Flow Exec(const Body& body, std::string& out) {
    for (const auto& n : body) {
      Flow f = ExecNode(*n, out);
      if (f != Flow::kNormal) return f;
      if (out.size() > kMaxOutput) Fail(n->line, "output larger than 16 MiB");
    }
    return Flow::kNormal;
  }

  Flow ExecNode(const Node& n, std::string& out) {
    switch (n.kind) {
      case Node::Kind::kText: out += n.text; return Flow::kNormal;
      case Node::Kind::kOutput: out += Eval(*n.expr).Str(); return Flow::kNormal;
      case Node::Kind::kIf:
        for (const auto& [cond, body] : n.branches) {
          if (Eval(*cond).Truthy()) return Exec(body, out);
        }
        return Exec(n.else_body, out);
      case Node::Kind::kFor: return For(n, out);
      case Node::Kind::kSet: Set(n); return Flow::kNormal;
      case Node::Kind::kSetBlock: {
        std::string captured;
        Exec(n.body, captured);
        frames_.back()[n.text] = Value(std::move(captured));
        return Flow::kNormal;
      }
      case Node::Kind::kMacro: frames_.back()[n.text] = MakeMacro(n); return Flow::kNormal;
      case Node::Kind::kBreak: return Flow::kBreak;
      case Node::Kind::kContinue: return Flow::kContinue;
      case Node::Kind::kBlock: return Exec(n.body, out);
    }
    return Flow::kNormal;
  }

  void Assign(const std::vector<std::string>& names, const Value& v, int line, Frame& frame) {
    if (names.size() == 1) {
      frame[names[0]] = v;
      return;
    }
    if (!v.is_list() || v.AsList().size() != names.size()) {
      Fail(line, "cannot unpack " + std::string(v.TypeName()) + " into " + std::to_string(names.size()) + " names");
    }
    for (size_t i = 0; i < names.size(); ++i) frame[names[i]] = v.AsList()[i];
  }

  void Set(const Node& n) {
    Value v = Eval(*n.expr);
    if (!n.attr_target) return Assign(n.targets, v, n.line, frames_.back());
    Value obj = Lookup(n.targets[0]);
    if (!obj.is_dict()) Fail(n.line, "cannot set attribute '" + n.targets[1] + "' of " + std::string(obj.TypeName()));
    for (auto& [k, x] : obj.AsDict()) {
      if (k == n.targets[1]) {
        x = std::move(v);
        return;
      }
    }
    obj.AsDict().emplace_back(n.targets[1], std::move(v));
  }

  Flow For(const Node& n, std::string& out) {
    List items;
    for (Value& item : Eval(*n.expr).Items()) {
      if (n.filter) {
        frames_.emplace_back();
        Assign(n.targets, item, n.line, frames_.back());
        const bool keep = Eval(*n.filter).Truthy();
        frames_.pop_back();
        if (!keep) continue;
      }
      items.push_back(std::move(item));
    }
    if (items.empty()) return Exec(n.else_body, out);
    const int64_t len = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < len; ++i) {
      if (++iterations_ > kMaxIterations) Fail(n.line, "more than 1,000,000 loop iterations");
      frames_.emplace_back();
      Frame& f = frames_.back();
      Assign(n.targets, items[static_cast<size_t>(i)], n.line, f);
      Dict loop = {{"index", Value(i + 1)},       {"index0", Value(i)},
                   {"revindex", Value(len - i)},  {"revindex0", Value(len - i - 1)},
                   {"first", Value(i == 0)},      {"last", Value(i == len - 1)},
                   {"length", Value(len)}};
      if (i > 0) loop.emplace_back("previtem", items[static_cast<size_t>(i - 1)]);
      if (i + 1 < len) loop.emplace_back("nextitem", items[static_cast<size_t>(i + 1)]);
      loop.emplace_back("cycle", Value::Callable([i](const Args& a) {
                          if (a.positional.empty()) throw TemplateError("no items for cycling given");
                          return a.positional[static_cast<size_t>(i) % a.positional.size()];
                        }));
      f["loop"] = Value(std::move(loop));
      const Flow flow = Exec(n.body, out);
      frames_.pop_back();
      if (flow == Flow::kBreak) break;
    }
    return Flow::kNormal;
  }

  Value MakeMacro(const Node& n) {
    return Value::Callable([this, &n](const Args& args) {
      if (++depth_ > kMaxDepth) Fail(n.line, "macro calls nested too deep");
      Frame f;
      for (size_t i = 0; i < n.params.size(); ++i) {
        const auto& [name, def] = n.params[i];
        const Value* given = args.Get(i, name);
        f[name] = given ? *given : def ? Eval(*def) : Value::Undefined(name);
      }
      std::vector<Frame> saved(frames_.begin() + 1, frames_.end());
      frames_.resize(1);
      frames_.push_back(std::move(f));
      std::string out;
      Exec(n.body, out);
      frames_.resize(1);
      for (auto& s : saved) frames_.push_back(std::move(s));
      --depth_;
      return Value(std::move(out));
    });
  }

  Value Lookup(const std::string& name) const {
    for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
      if (auto f = it->find(name); f != it->end()) return f->second;
    }
    Value g = Global(name);
    return g.is_undefined() ? Value::Undefined(name) : g;
  }

  Args EvalArgs(const Expr& e, size_t from) {
    Args a;
    for (size_t i = from; i < e.children.size(); ++i) a.positional.push_back(Eval(*e.children[i]));
    for (const auto& [k, v] : e.kwargs) a.named.emplace_back(k, Eval(*v));
    return a;
  }

  Value Eval(const Expr& e) {
    try {
      return EvalInner(e);
    } catch (const TemplateError& err) {
      const std::string what = err.what();
      if (what.rfind("line ", 0) == 0) throw;
      Fail(e.line, what);
    }
  }

  Value EvalInner(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kLiteral: return e.literal;
      case Expr::Kind::kName: return Lookup(e.name);
      case Expr::Kind::kList: {
        List l;
        for (const auto& c : e.children) l.push_back(Eval(*c));
        return Value(std::move(l));
      }
      case Expr::Kind::kDict: {
        Dict d;
        for (size_t i = 0; i + 1 < e.children.size(); i += 2) {
          Value k = Eval(*e.children[i]);
          if (!k.is_string()) Fail(e.line, "dict keys must be strings here");
          bool found = false;
          for (auto& [dk, dv] : d) {
            if (dk == k.AsString()) { dv = Eval(*e.children[i + 1]); found = true; }
          }
          if (!found) d.emplace_back(k.AsString(), Eval(*e.children[i + 1]));
        }
        return Value(std::move(d));
      }
      case Expr::Kind::kAttr: return GetAttr(Eval(*e.children[0]), e.name);
      case Expr::Kind::kItem: return GetItem(Eval(*e.children[0]), Eval(*e.children[1]));
      case Expr::Kind::kSlice: return Slice(e);
      case Expr::Kind::kCall: {
        Value f = Eval(*e.children[0]);
        if (!f.is_callable()) {
          Fail(e.line, f.is_undefined() ? "'" + f.AsString() + "' is undefined" : "'" + std::string(f.TypeName()) + "' object is not callable");
        }
        return f.AsFunction()(EvalArgs(e, 1));
      }
      case Expr::Kind::kFilter: return CallFilter(e.name, Eval(*e.children[0]), EvalArgs(e, 1));
      case Expr::Kind::kTest: return Value(CallTest(e.name, Eval(*e.children[0]), EvalArgs(e, 1)) != e.negated);
      case Expr::Kind::kUnary: return Unary(e);
      case Expr::Kind::kBinary: return Binary(e);
      case Expr::Kind::kCompare: return Compare(e);
      case Expr::Kind::kCond:
        if (Eval(*e.children[0]).Truthy()) return Eval(*e.children[1]);
        return e.children[2] ? Eval(*e.children[2]) : Value::Undefined("");
    }
    return Value();
  }

  Value Unary(const Expr& e) {
    Value v = Eval(*e.children[0]);
    if (e.name == "not") return Value(!v.Truthy());
    if (!v.is_number()) Fail(e.line, "bad operand type for unary " + e.name + ": '" + std::string(v.TypeName()) + "'");
    if (e.name == "+") return v.is_int() ? Value(v.AsInt()) : v;
    return v.is_int() ? Value(-v.AsInt()) : Value(-v.AsDouble());
  }

  Value Slice(const Expr& e) {
    Value v = Eval(*e.children[0]);
    auto opt = [&](size_t i) -> std::optional<int64_t> {
      if (!e.children[i]) return std::nullopt;
      Value x = Eval(*e.children[i]);
      if (x.is_none()) return std::nullopt;
      if (!x.is_int()) Fail(e.line, "slice indices must be integers");
      return x.AsInt();
    };
    const auto start = opt(1), stop = opt(2), step_opt = opt(3);
    const int64_t step = step_opt.value_or(1);
    if (step == 0) Fail(e.line, "slice step cannot be zero");
    List items;
    const bool is_str = v.is_string();
    if (is_str) {
      for (auto& c : CodePoints(v.AsString())) items.emplace_back(std::move(c));
    } else if (v.is_list()) {
      items = v.AsList();
    } else {
      Fail(e.line, "'" + std::string(v.TypeName()) + "' object is not subscriptable");
    }
    const int64_t n = static_cast<int64_t>(items.size());
    auto clamp = [&](std::optional<int64_t> x, int64_t def) {
      if (!x) return def;
      int64_t i = *x < 0 ? *x + n : *x;
      return step > 0 ? std::clamp<int64_t>(i, 0, n) : std::clamp<int64_t>(i, -1, n - 1);
    };
    const int64_t lo = clamp(start, step > 0 ? 0 : n - 1), hi = clamp(stop, step > 0 ? n : -1);
    List out;
    for (int64_t i = lo; step > 0 ? i < hi : i > hi; i += step) out.push_back(items[static_cast<size_t>(i)]);
    if (!is_str) return Value(std::move(out));
    std::string s;
    for (const auto& c : out) s += c.AsString();
    return Value(std::move(s));
  }

  Value Binary(const Expr& e) {
    if (e.name == "and" || e.name == "or") {
      Value a = Eval(*e.children[0]);
      if (a.Truthy() == (e.name == "or")) return a;
      return Eval(*e.children[1]);
    }
    return Arithmetic(e.name, Eval(*e.children[0]), Eval(*e.children[1]));
  }

  // The result, read after the overflow check wrote it; null: overflowed.
  static int64_t Checked(const int64_t* result) {
    if (!result) throw TemplateError("integer overflow");
    return *result;
  }

  static Value Arithmetic(const std::string& op, const Value& a, const Value& b) {
    if (op == "~") return Value(a.Str() + b.Str());
    if (a.is_number() && b.is_number()) {
      const bool ints = a.is_int() && b.is_int();
      const int64_t x = a.AsInt(), y = b.AsInt();
      const double p = a.AsDouble(), q = b.AsDouble();
      // Python's integers do not overflow; these do: a template that needs
      // more than 64 bits is refused rather than computed wrong.
      int64_t r = 0;
      if (op == "+") return ints ? Value(Checked(__builtin_add_overflow(x, y, &r) ? nullptr : &r)) : Value(p + q);
      if (op == "-") return ints ? Value(Checked(__builtin_sub_overflow(x, y, &r) ? nullptr : &r)) : Value(p - q);
      if (op == "*") return ints ? Value(Checked(__builtin_mul_overflow(x, y, &r) ? nullptr : &r)) : Value(p * q);
      if ((op == "/" || op == "//" || op == "%") && q == 0) throw TemplateError("division by zero");
      if (ints && y == -1 && x == INT64_MIN && (op == "//" || op == "%")) throw TemplateError("integer overflow");
      if (op == "/") return Value(p / q);
      if (op == "//") {
        if (ints) return Value(x / y - ((x % y != 0) && ((x < 0) != (y < 0))));
        return Value(std::floor(p / q));
      }
      if (op == "%") {
        if (ints) {  // Python's sign: the divisor's, without overflowing
          const int64_t r = x % y;
          return Value(r != 0 && ((r < 0) != (y < 0)) ? r + y : r);
        }
        return Value(p - q * std::floor(p / q));
      }
      if (op == "**") {
        if (ints && y >= 0) {
          const double v = std::pow(p, q);
          if (!(std::fabs(v) < 9.2e18)) throw TemplateError("integer overflow");
          return Value(static_cast<int64_t>(v));
        }
        return Value(std::pow(p, q));
      }
    }
    if (op == "+" && a.is_string() && b.is_string()) return Value(a.AsString() + b.AsString());
    if (op == "+" && a.is_list() && b.is_list()) {
      List l = a.AsList();
      l.insert(l.end(), b.AsList().begin(), b.AsList().end());
      return Value(std::move(l));
    }
    if (op == "*" && (a.is_string() || a.is_list()) && b.is_int() && !b.is_bool()) {
      if (b.AsInt() > 100000) throw TemplateError("repetition too large");
      if (a.is_string()) {
        std::string s;
        for (int64_t i = 0; i < b.AsInt(); ++i) s += a.AsString();
        return Value(std::move(s));
      }
      List l;
      for (int64_t i = 0; i < b.AsInt(); ++i) l.insert(l.end(), a.AsList().begin(), a.AsList().end());
      return Value(std::move(l));
    }
    throw TemplateError("unsupported operand types for " + op + ": '" + std::string(a.TypeName()) + "' and '" +
                        std::string(b.TypeName()) + "'");
  }

  Value Compare(const Expr& e) {
    Value left = Eval(*e.children[0]);
    for (size_t i = 0; i < e.ops.size(); ++i) {
      Value right = Eval(*e.children[i + 1]);
      const std::string& op = e.ops[i];
      bool ok;
      if (op == "==") ok = Equal(left, right);
      else if (op == "!=") ok = !Equal(left, right);
      else if (op == "<") ok = Less(left, right);
      else if (op == ">") ok = Less(right, left);
      else if (op == "<=") ok = !Less(right, left);
      else if (op == ">=") ok = !Less(left, right);
      else ok = CallTest("in", left, Args{{right}, {}}) == (op == "in");
      if (!ok) return Value(false);
      left = std::move(right);
    }
    return Value(true);
  }

  std::vector<Frame> frames_;
  int depth_ = 0;
  int64_t iterations_ = 0;
};

}  // namespace

std::string RenderBody(const Body& body, const Dict& context) { return Renderer(context).Run(body); }

}  // namespace vigil::worker::chat_template
