// The parser: lexer segments -> ast.h nodes, with jinja2's precedence
// (parser.py: condexpr > or > and > not > compare > math1 > concat > math2 >
// pow > unary > postfix, filters and tests bind to a unary).
#include <cstdlib>
#include <initializer_list>

#include "worker/chat_template/ast.h"
#include "worker/chat_template/lexer.h"

namespace vigil::worker::chat_template {
namespace {

[[noreturn]] void Fail(int line, const std::string& what) {
  throw TemplateError("line " + std::to_string(line) + ": " + what);
}

bool IsKeyword(const std::string& s) {
  for (const char* k : {"and", "or", "not", "in", "is", "if", "else", "recursive"}) {
    if (s == k) return true;
  }
  return false;
}

class Parser {
  // Bounds recursion, so a hostile template fails instead of overflowing
  // the stack.
  struct Depth {
    explicit Depth(Parser& p) : p_(p) {
      if (++p_.depth_ > 200) Fail(p_.toks_ ? p_.Peek().line : 0, "nested too deep");
    }
    ~Depth() { --p_.depth_; }
    Parser& p_;
  };

 public:
  explicit Parser(std::vector<Segment> segs) : segs_(std::move(segs)) {}

  Body Template() {
    std::string end;
    Body body = ParseBody({}, &end);
    return body;
  }

 private:
  // ---- statements ------------------------------------------------------
  // Parses until a block tag whose keyword is in `ends` (consumed; its name
  // in *ended) or the end of the source (only allowed when ends is empty).
  Body ParseBody(std::initializer_list<const char*> ends, std::string* ended) {
    Depth guard(*this);
    Body body;
    while (si_ < segs_.size()) {
      Segment& seg = segs_[si_++];
      if (seg.kind == Segment::Kind::kText) {
        auto n = MakeNode(Node::Kind::kText, seg.line);
        n->text = std::move(seg.text);
        body.push_back(std::move(n));
        continue;
      }
      toks_ = &seg.tokens;
      ti_ = 0;
      if (seg.kind == Segment::Kind::kVar) {
        auto n = MakeNode(Node::Kind::kOutput, seg.line);
        n->expr = ParseExpr();
        ExpectEnd();
        body.push_back(std::move(n));
        continue;
      }
      const Token& kw = Peek();
      if (kw.kind != Token::Kind::kName) Fail(kw.line, "expected a tag name");
      for (const char* e : ends) {
        if (kw.text == e) {
          ++ti_;
          *ended = kw.text;
          return body;
        }
      }
      body.push_back(Statement(seg.line));
    }
    if (ends.size() != 0) {
      Fail(segs_.empty() ? 1 : segs_.back().line, std::string("missing {% ") + *ends.begin() + " %}");
    }
    return body;
  }

  std::unique_ptr<Node> Statement(int line) {
    const std::string kw = Next().text;
    if (kw == "if") return If(line);
    if (kw == "for") return For(line);
    if (kw == "set") return Set(line);
    if (kw == "macro") return Macro(line);
    if (kw == "break" || kw == "continue") {
      ExpectEnd();
      return MakeNode(kw == "break" ? Node::Kind::kBreak : Node::Kind::kContinue, line);
    }
    if (kw == "generation") {  // transformers' AssistantTracker: no effect on the text
      ExpectEnd();
      auto n = MakeNode(Node::Kind::kBlock, line);
      std::string end;
      n->body = ParseBody({"endgeneration"}, &end);
      ExpectEnd();
      return n;
    }
    Fail(line, "unsupported tag '" + kw + "'");
  }

  std::unique_ptr<Node> If(int line) {
    auto n = MakeNode(Node::Kind::kIf, line);
    ExprPtr cond = ParseExpr();
    ExpectEnd();
    for (;;) {
      std::string end;
      Body body = ParseBody({"elif", "else", "endif"}, &end);
      n->branches.emplace_back(std::move(cond), std::move(body));
      if (end == "elif") {
        cond = ParseExpr();
        ExpectEnd();
        continue;
      }
      ExpectEnd();
      if (end == "else") {
        n->else_body = ParseBody({"endif"}, &end);
        ExpectEnd();
      }
      return n;
    }
  }

  std::unique_ptr<Node> For(int line) {
    auto n = MakeNode(Node::Kind::kFor, line);
    const bool paren = SkipOp("(");
    do {
      n->targets.push_back(Name());
    } while (SkipOp(","));
    if (paren) ExpectOp(")");
    if (Next().text != "in") Fail(line, "expected 'in' in for");
    n->expr = ParseOr();
    if (SkipName("if")) n->filter = ParseExpr();
    if (SkipName("recursive")) Fail(line, "unsupported construct 'for ... recursive'");
    ExpectEnd();
    std::string end;
    n->body = ParseBody({"else", "endfor"}, &end);
    ExpectEnd();
    if (end == "else") {
      n->else_body = ParseBody({"endfor"}, &end);
      ExpectEnd();
    }
    return n;
  }

  std::unique_ptr<Node> Set(int line) {
    auto n = MakeNode(Node::Kind::kSet, line);
    n->targets.push_back(Name());
    if (SkipOp(".")) {
      n->attr_target = true;
      n->targets.push_back(Name());
    } else {
      while (SkipOp(",")) n->targets.push_back(Name());
    }
    if (SkipOp("=")) {
      n->expr = ParseTupleOrExpr();
      ExpectEnd();
      return n;
    }
    if (n->attr_target || n->targets.size() != 1) Fail(line, "a block set takes one name");
    ExpectEnd();
    n->kind = Node::Kind::kSetBlock;
    n->text = n->targets[0];
    std::string end;
    n->body = ParseBody({"endset"}, &end);
    ExpectEnd();
    return n;
  }

  std::unique_ptr<Node> Macro(int line) {
    auto n = MakeNode(Node::Kind::kMacro, line);
    n->text = Name();
    ExpectOp("(");
    while (!SkipOp(")")) {
      std::string param = Name();
      ExprPtr def;
      if (SkipOp("=")) def = ParseExpr();
      n->params.emplace_back(std::move(param), std::move(def));
      if (!SkipOp(",")) {
        ExpectOp(")");
        break;
      }
    }
    ExpectEnd();
    std::string end;
    n->body = ParseBody({"endmacro"}, &end);
    ExpectEnd();
    return n;
  }

  // ---- expressions -----------------------------------------------------
  ExprPtr ParseTupleOrExpr() {
    ExprPtr first = ParseExpr();
    if (!IsOp(",")) return first;
    auto list = MakeExpr(Expr::Kind::kList, first->line);
    list->children.push_back(std::move(first));
    while (SkipOp(",")) {
      if (Peek().kind == Token::Kind::kEnd) break;
      list->children.push_back(ParseExpr());
    }
    return list;
  }

  ExprPtr ParseExpr() {
    Depth guard(*this);
    ExprPtr e = ParseOr();
    while (SkipName("if")) {
      auto c = MakeExpr(Expr::Kind::kCond, e->line);
      c->children.push_back(ParseOr());
      c->children.push_back(std::move(e));
      c->children.push_back(SkipName("else") ? ParseExpr() : nullptr);
      e = std::move(c);
    }
    return e;
  }

  ExprPtr Binary(std::string op, ExprPtr a, ExprPtr b) {
    auto e = MakeExpr(Expr::Kind::kBinary, a->line);
    e->name = std::move(op);
    e->children.push_back(std::move(a));
    e->children.push_back(std::move(b));
    return e;
  }

  ExprPtr ParseOr() {
    ExprPtr e = ParseAnd();
    while (SkipName("or")) e = Binary("or", std::move(e), ParseAnd());
    return e;
  }
  ExprPtr ParseAnd() {
    ExprPtr e = ParseNot();
    while (SkipName("and")) e = Binary("and", std::move(e), ParseNot());
    return e;
  }
  ExprPtr ParseNot() {
    if (Peek().kind == Token::Kind::kName && Peek().text == "not") {
      Depth guard(*this);
      const int line = Next().line;
      auto e = MakeExpr(Expr::Kind::kUnary, line);
      e->name = "not";
      e->children.push_back(ParseNot());
      return e;
    }
    return ParseCompare();
  }
  ExprPtr ParseCompare() {
    ExprPtr first = ParseMath1();
    auto cmp = MakeExpr(Expr::Kind::kCompare, first->line);
    cmp->children.push_back(std::move(first));
    for (;;) {
      const Token& t = Peek();
      std::string op;
      if (t.kind == Token::Kind::kOp &&
          (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == ">" || t.text == "<=" || t.text == ">=")) {
        op = Next().text;
      } else if (SkipName("in")) {
        op = "in";
      } else if (t.kind == Token::Kind::kName && t.text == "not" && PeekAt(1).kind == Token::Kind::kName &&
                 PeekAt(1).text == "in") {
        ti_ += 2;
        op = "notin";
      } else {
        break;
      }
      cmp->ops.push_back(op);
      cmp->children.push_back(ParseMath1());
    }
    if (cmp->ops.empty()) return std::move(cmp->children[0]);
    return cmp;
  }
  ExprPtr ParseMath1() {
    ExprPtr e = ParseConcat();
    while (IsOp("+") || IsOp("-")) {
      std::string op = Next().text;
      e = Binary(op, std::move(e), ParseConcat());
    }
    return e;
  }
  ExprPtr ParseConcat() {
    ExprPtr e = ParseMath2();
    while (SkipOp("~")) e = Binary("~", std::move(e), ParseMath2());
    return e;
  }
  ExprPtr ParseMath2() {
    ExprPtr e = ParsePow();
    while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
      std::string op = Next().text;
      e = Binary(op, std::move(e), ParsePow());
    }
    return e;
  }
  ExprPtr ParsePow() {
    ExprPtr e = ParseUnary(true);
    while (SkipOp("**")) e = Binary("**", std::move(e), ParseUnary(true));
    return e;
  }
  ExprPtr ParseUnary(bool with_filter) {
    Depth guard(*this);
    ExprPtr e;
    if (IsOp("-") || IsOp("+")) {
      const Token op = Next();
      e = MakeExpr(Expr::Kind::kUnary, op.line);
      e->name = op.text;
      e->children.push_back(ParseUnary(false));
    } else {
      e = ParsePostfix(ParsePrimary());
    }
    return with_filter ? ParseFilters(std::move(e)) : std::move(e);
  }

  ExprPtr ParsePrimary() {
    const Token t = Next();
    switch (t.kind) {
      case Token::Kind::kName: {
        if (t.text == "true" || t.text == "True") return Literal(Value(true), t.line);
        if (t.text == "false" || t.text == "False") return Literal(Value(false), t.line);
        if (t.text == "none" || t.text == "None") return Literal(Value::None(), t.line);
        if (IsKeyword(t.text)) Fail(t.line, "unexpected '" + t.text + "'");
        auto e = MakeExpr(Expr::Kind::kName, t.line);
        e->name = t.text;
        return e;
      }
      case Token::Kind::kString: {
        std::string s = t.text;
        while (Peek().kind == Token::Kind::kString) s += Next().text;  // "a" "b"
        return Literal(Value(std::move(s)), t.line);
      }
      case Token::Kind::kInt: return Literal(Value(static_cast<int64_t>(std::strtoll(t.text.c_str(), nullptr, 10))), t.line);
      case Token::Kind::kFloat: return Literal(Value(std::strtod(t.text.c_str(), nullptr)), t.line);
      case Token::Kind::kOp:
        if (t.text == "(") {
          if (SkipOp(")")) return MakeExpr(Expr::Kind::kList, t.line);
          ExprPtr e = ParseTupleOrExpr();
          ExpectOp(")");
          return e;
        }
        if (t.text == "[") return Sequence(Expr::Kind::kList, "]", t.line);
        if (t.text == "{") return Sequence(Expr::Kind::kDict, "}", t.line);
        break;
      case Token::Kind::kEnd: Fail(t.line, "unexpected end of tag");
    }
    Fail(t.line, "unexpected '" + t.text + "'");
  }

  ExprPtr Sequence(Expr::Kind kind, const char* close, int line) {
    auto e = MakeExpr(kind, line);
    while (!SkipOp(close)) {
      e->children.push_back(ParseExpr());
      if (kind == Expr::Kind::kDict) {
        ExpectOp(":");
        e->children.push_back(ParseExpr());
      }
      if (!SkipOp(",")) {
        ExpectOp(close);
        break;
      }
    }
    return e;
  }

  ExprPtr ParsePostfix(ExprPtr e) {
    for (;;) {
      if (SkipOp(".")) {
        const Token t = Next();
        if (t.kind != Token::Kind::kName && t.kind != Token::Kind::kInt) Fail(t.line, "expected an attribute name");
        auto a = MakeExpr(Expr::Kind::kAttr, t.line);
        a->name = t.text;
        a->children.push_back(std::move(e));
        e = std::move(a);
      } else if (IsOp("[")) {
        e = Subscript(std::move(e));
      } else if (IsOp("(")) {
        auto c = MakeExpr(Expr::Kind::kCall, e->line);
        c->children.push_back(std::move(e));
        CallArgs(*c);
        e = std::move(c);
      } else {
        return e;
      }
    }
  }

  ExprPtr Subscript(ExprPtr target) {
    const int line = Next().line;  // [
    ExprPtr parts[3];
    int n = 0;
    bool slice = false;
    for (;;) {
      if (!IsOp(":") && !IsOp("]")) parts[n] = ParseExpr();
      if (SkipOp(":")) {
        slice = true;
        if (++n > 2) Fail(line, "bad slice");
        continue;
      }
      ExpectOp("]");
      break;
    }
    if (!slice && !parts[0]) Fail(line, "empty subscript");
    auto e = MakeExpr(slice ? Expr::Kind::kSlice : Expr::Kind::kItem, line);
    e->children.push_back(std::move(target));
    for (int i = 0; i < (slice ? 3 : 1); ++i) e->children.push_back(std::move(parts[i]));
    return e;
  }

  // "(" args ")": positional, then name=value.
  void CallArgs(Expr& call) {
    ExpectOp("(");
    while (!SkipOp(")")) {
      if (Peek().kind == Token::Kind::kName && PeekAt(1).kind == Token::Kind::kOp && PeekAt(1).text == "=") {
        std::string name = Next().text;
        ++ti_;
        call.kwargs.emplace_back(std::move(name), ParseExpr());
      } else {
        if (!call.kwargs.empty()) Fail(Peek().line, "positional argument after a keyword argument");
        call.children.push_back(ParseExpr());
      }
      if (!SkipOp(",")) {
        ExpectOp(")");
        break;
      }
    }
  }

  ExprPtr ParseFilters(ExprPtr e) {
    for (;;) {
      if (SkipOp("|")) {
        const Token t = Next();
        if (t.kind != Token::Kind::kName) Fail(t.line, "expected a filter name");
        if (!IsKnownFilter(t.text)) Fail(t.line, "unsupported filter '" + t.text + "'");
        auto f = MakeExpr(Expr::Kind::kFilter, t.line);
        f->name = t.text;
        f->children.push_back(std::move(e));
        if (IsOp("(")) CallArgs(*f);
        e = std::move(f);
      } else if (SkipName("is")) {
        auto test = MakeExpr(Expr::Kind::kTest, e->line);
        test->negated = SkipName("not");
        const Token t = Next();
        if (t.kind != Token::Kind::kName) Fail(t.line, "expected a test name");
        test->name = t.text;
        if (!IsKnownTest(t.text)) Fail(t.line, "unsupported test '" + t.text + "'");
        test->children.push_back(std::move(e));
        if (IsOp("(")) {
          CallArgs(*test);
        } else if (StartsArgument()) {
          test->children.push_back(ParsePostfix(ParsePrimary()));
        }
        e = std::move(test);
      } else {
        return e;
      }
    }
  }

  bool StartsArgument() const {
    const Token& t = Peek();
    if (t.kind == Token::Kind::kString || t.kind == Token::Kind::kInt || t.kind == Token::Kind::kFloat) return true;
    if (t.kind == Token::Kind::kName) return !IsKeyword(t.text);
    return t.kind == Token::Kind::kOp && (t.text == "[" || t.text == "{");
  }

  // ---- tokens ------------------------------------------------------------
  const Token& Peek() const { return (*toks_)[ti_]; }
  const Token& PeekAt(size_t k) const {
    return ti_ + k < toks_->size() ? (*toks_)[ti_ + k] : toks_->back();
  }
  const Token& Next() {
    const Token& t = (*toks_)[ti_];
    if (t.kind != Token::Kind::kEnd) ++ti_;
    return t;
  }
  bool IsOp(const char* op) const { return Peek().kind == Token::Kind::kOp && Peek().text == op; }
  bool SkipOp(const char* op) {
    if (!IsOp(op)) return false;
    ++ti_;
    return true;
  }
  bool SkipName(const char* name) {
    if (Peek().kind != Token::Kind::kName || Peek().text != name) return false;
    ++ti_;
    return true;
  }
  void ExpectOp(const char* op) {
    if (!SkipOp(op)) Fail(Peek().line, std::string("expected '") + op + "', found '" + Peek().text + "'");
  }
  void ExpectEnd() {
    if (Peek().kind != Token::Kind::kEnd) Fail(Peek().line, "unexpected '" + Peek().text + "'");
  }
  std::string Name() {
    const Token& t = Next();
    if (t.kind != Token::Kind::kName || IsKeyword(t.text)) Fail(t.line, "expected a name, found '" + t.text + "'");
    return t.text;
  }

  static std::unique_ptr<Node> MakeNode(Node::Kind kind, int line) {
    auto n = std::make_unique<Node>();
    n->kind = kind;
    n->line = line;
    return n;
  }
  static ExprPtr MakeExpr(Expr::Kind kind, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = line;
    return e;
  }
  static ExprPtr Literal(Value v, int line) {
    auto e = MakeExpr(Expr::Kind::kLiteral, line);
    e->literal = std::move(v);
    return e;
  }

  std::vector<Segment> segs_;
  size_t si_ = 0;
  const std::vector<Token>* toks_ = nullptr;
  size_t ti_ = 0;
  int depth_ = 0;
};

}  // namespace

Body ParseTemplate(std::string_view source) { return Parser(Lex(source)).Template(); }

}  // namespace vigil::worker::chat_template
