// lexer.h: a template source cut into text and tags (internal).
//
// Whitespace control follows jinja2 with trim_blocks=True and
// lstrip_blocks=True (Hugging Face's settings): "-" strips all whitespace on
// its side, a block or comment tag drops one newline after it, and spaces
// before a block or comment tag alone on its line go. A single trailing
// newline of the source is dropped (keep_trailing_newline=False); text keeps
// "\n" for "\r\n" (jinja2's newline_sequence). {% raw %} bodies are text.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace vigil::worker::chat_template {

struct Token {
  enum class Kind { kName, kString, kInt, kFloat, kOp, kEnd };
  Kind kind;
  std::string text;  // name, operator, or the decoded string
  int line = 0;
};

struct Segment {
  enum class Kind { kText, kVar, kBlock };
  Kind kind;
  std::string text;           // kText
  std::vector<Token> tokens;  // kVar, kBlock; ends with a kEnd token
  int line = 0;
};

// Throws TemplateError (unterminated tag, string or comment; bad character).
std::vector<Segment> Lex(std::string_view source);

}  // namespace vigil::worker::chat_template
