#include "worker/chat_template/lexer.h"

#include <cctype>

#include "worker/chat_template/value.h"

namespace vigil::worker::chat_template {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

class Lexer {
 public:
  explicit Lexer(std::string_view src) : src_(src) {}

  std::vector<Segment> Run() {
    while (pos_ < src_.size()) {
      const size_t start = FindTag(pos_);
      std::string text(src_.substr(pos_, start - pos_));
      if (start == src_.size()) {
        AddText(std::move(text));
        break;
      }
      const char kind = src_[start + 1];
      const char sign = start + 2 < src_.size() ? src_[start + 2] : 0;
      if (sign == '-') {
        while (!text.empty() && IsSpace(text.back())) text.pop_back();
      } else if (kind != '{' && sign != '+') {
        LStrip(text);
      }
      AddText(std::move(text));
      const int line = LineAt(start);
      pos_ = start + 2 + ((sign == '-' || sign == '+') ? 1 : 0);
      if (kind == '#') {
        Comment(line);
      } else {
        Tag(kind, line);
      }
    }
    return std::move(out_);
  }

 private:
  size_t FindTag(size_t from) const {
    for (size_t i = from; i + 1 < src_.size(); ++i) {
      if (src_[i] == '{' && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return src_.size();
  }

  // Positions asked for only grow, so counting goes on from the last one.
  int LineAt(size_t p) {
    if (p < line_pos_) line_pos_ = 0, line_ = 1;
    for (; line_pos_ < p && line_pos_ < src_.size(); ++line_pos_) line_ += src_[line_pos_] == '\n';
    return line_;
  }

  // lstrip_blocks: drop spaces between a line start and a block tag.
  void LStrip(std::string& text) const {
    const size_t nl = text.rfind('\n');
    const bool line_start = nl != std::string::npos || pos_ == 0 || src_[pos_ - 1] == '\n';
    if (!line_start) return;
    const size_t from = nl == std::string::npos ? 0 : nl + 1;
    for (size_t i = from; i < text.size(); ++i) {
      if (!IsSpace(text[i])) return;
    }
    text.resize(from);
  }

  void AddText(std::string text) {
    if (text.empty()) return;
    std::string norm;
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\r') {
        norm += '\n';
        if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
      } else {
        norm += text[i];
      }
    }
    if (!out_.empty() && out_.back().kind == Segment::Kind::kText) {
      out_.back().text += norm;
    } else {
      out_.push_back({Segment::Kind::kText, std::move(norm), {}, 0});
    }
  }

  // After a tag: "-" strips whitespace; a block or comment drops one "\n".
  void AfterTag(bool strip, bool block) {
    if (strip) {
      while (pos_ < src_.size() && IsSpace(src_[pos_])) ++pos_;
    } else if (block && pos_ < src_.size() && src_[pos_] == '\n') {
      ++pos_;
    }
  }

  void Comment(int line) {
    const size_t end = src_.find("#}", pos_);
    if (end == std::string_view::npos) throw TemplateError("line " + std::to_string(line) + ": unterminated comment");
    const bool strip = end > pos_ && src_[end - 1] == '-';
    pos_ = end + 2;
    AfterTag(strip, true);
  }

  void Tag(char kind, int line) {
    const std::string_view close = kind == '{' ? "}}" : "%}";
    Segment seg{kind == '{' ? Segment::Kind::kVar : Segment::Kind::kBlock, {}, {}, line};
    bool strip = false;
    for (;;) {
      while (pos_ < src_.size() && IsSpace(src_[pos_])) ++pos_;
      if (pos_ >= src_.size()) throw TemplateError("line " + std::to_string(line) + ": unterminated tag");
      if (src_.substr(pos_, 3) == std::string(1, '-') + std::string(close)) {
        strip = true;
        pos_ += 3;
        break;
      }
      if (src_.substr(pos_, 3) == std::string(1, '+') + std::string(close)) {
        pos_ += 3;
        break;
      }
      if (src_.substr(pos_, 2) == close) {
        pos_ += 2;
        break;
      }
      seg.tokens.push_back(Next(LineAt(pos_)));
    }
    seg.tokens.push_back({Token::Kind::kEnd, "", line});
    const bool block = kind == '%';
    const bool raw = block && seg.tokens.size() == 2 && seg.tokens[0].text == "raw";
    out_.push_back(std::move(seg));
    AfterTag(strip, block);
    if (raw) Raw(line);
  }

  // {% raw %}...{% endraw %}: the body is text, tags and all.
  void Raw(int line) {
    out_.pop_back();
    for (size_t at = pos_;;) {
      const size_t open = src_.find("{%", at);
      if (open == std::string_view::npos) throw TemplateError("line " + std::to_string(line) + ": raw without endraw");
      size_t p = open + 2;
      const bool minus = p < src_.size() && src_[p] == '-';
      if (minus || (p < src_.size() && src_[p] == '+')) ++p;
      while (p < src_.size() && IsSpace(src_[p])) ++p;
      if (src_.substr(p, 6) != "endraw") { at = open + 2; continue; }
      p += 6;
      while (p < src_.size() && IsSpace(src_[p])) ++p;
      const bool strip = p < src_.size() && src_[p] == '-';
      if (strip) ++p;
      if (src_.substr(p, 2) != "%}") { at = open + 2; continue; }
      std::string body(src_.substr(pos_, open - pos_));
      if (minus) while (!body.empty() && IsSpace(body.back())) body.pop_back();
      AddText(std::move(body));
      pos_ = p + 2;
      AfterTag(strip, true);
      return;
    }
  }

  Token Next(int line) {
    const char c = src_[pos_];
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t e = pos_;
      while (e < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[e])) || src_[e] == '_')) ++e;
      Token t{Token::Kind::kName, std::string(src_.substr(pos_, e - pos_)), line};
      pos_ = e;
      return t;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) return Number(line);
    if (c == '\'' || c == '"') return String(line);
    for (std::string_view op : {"**", "//", "==", "!=", "<=", ">="}) {
      if (src_.substr(pos_, 2) == op) {
        pos_ += 2;
        return {Token::Kind::kOp, std::string(op), line};
      }
    }
    if (std::string_view("()[]{},.:|~+-*/%<>=").find(c) != std::string_view::npos) {
      ++pos_;
      return {Token::Kind::kOp, std::string(1, c), line};
    }
    throw TemplateError("line " + std::to_string(line) + ": unexpected character '" + std::string(1, c) + "'");
  }

  Token Number(int line) {
    size_t e = pos_;
    bool is_float = false;
    while (e < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[e])) || src_[e] == '_')) ++e;
    if (e + 1 < src_.size() && src_[e] == '.' && std::isdigit(static_cast<unsigned char>(src_[e + 1]))) {
      is_float = true;
      ++e;
      while (e < src_.size() && std::isdigit(static_cast<unsigned char>(src_[e]))) ++e;
    }
    std::string text;
    for (char ch : src_.substr(pos_, e - pos_)) {
      if (ch != '_') text += ch;
    }
    pos_ = e;
    return {is_float ? Token::Kind::kFloat : Token::Kind::kInt, text, line};
  }

  Token String(int line) {
    const char q = src_[pos_++];
    std::string out;
    while (pos_ < src_.size() && src_[pos_] != q) {
      char ch = src_[pos_++];
      if (ch == '\\' && pos_ < src_.size()) {
        const char e = src_[pos_++];
        switch (e) {
          case 'n': ch = '\n'; break;
          case 't': ch = '\t'; break;
          case 'r': ch = '\r'; break;
          case '\\': case '\'': case '"': ch = e; break;
          default: out += '\\'; ch = e;  // Python keeps unknown escapes
        }
      }
      out += ch;
    }
    if (pos_ >= src_.size()) throw TemplateError("line " + std::to_string(line) + ": unterminated string");
    ++pos_;
    return {Token::Kind::kString, out, line};
  }

  std::string_view src_;
  size_t pos_ = 0;
  size_t line_pos_ = 0;
  int line_ = 1;
  std::vector<Segment> out_;
};

}  // namespace

std::vector<Segment> Lex(std::string_view source) {
  if (!source.empty() && source.back() == '\n') source.remove_suffix(1);
  return Lexer(source).Run();
}

}  // namespace vigil::worker::chat_template
