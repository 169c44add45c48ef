// ast.h: the parsed form of a template (internal to chat_template/).
//
// parse.cc builds it from the source; render.cc walks it. Nodes own their
// children; a Template owns the root body and never changes it after Parse,
// so one parsed template renders any number of conversations.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "worker/chat_template/value.h"

namespace vigil::worker::chat_template {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    kLiteral,  // literal
    kName,     // name
    kList,     // children
    kDict,     // children: key, value, key, value...
    kAttr,     // children[0].name
    kItem,     // children[0][children[1]]
    kSlice,    // children[0][children[1]:children[2]:children[3]] (null: omitted)
    kCall,     // children[0](children[1..], kwargs)
    kFilter,   // children[0] | name(children[1..], kwargs)
    kTest,     // children[0] is [not] name(children[1..])
    kUnary,    // name ("-", "+", "not") children[0]
    kBinary,   // children[0] name children[1]: + - * / // % ** ~ and or
    kCompare,  // children[0] ops[i] children[i+1] ...
    kCond,     // children[1] if children[0] else children[2] (may be null)
  };
  Kind kind;
  int line = 0;
  std::string name;
  Value literal;
  bool negated = false;
  std::vector<ExprPtr> children;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;  // kCompare
};

struct Node;
using Body = std::vector<std::unique_ptr<Node>>;

struct Node {
  enum class Kind { kText, kOutput, kIf, kFor, kSet, kSetBlock, kMacro, kBreak, kContinue, kBlock };
  Kind kind;
  int line = 0;
  std::string text;                  // kText; kSet/kSetBlock/kMacro: the name; kSet: "" with attr target
  ExprPtr expr;                      // kOutput, kFor (iterable), kSet (value)
  ExprPtr filter;                    // kFor: the inline `if`
  std::vector<std::string> targets;  // kFor, kSet: names unpacked; kSet attr: {object, attribute}
  bool attr_target = false;          // kSet: `set ns.attr = ...`
  std::vector<std::pair<ExprPtr, Body>> branches;  // kIf: condition, body
  Body body;                                       // kFor, kSetBlock, kMacro, kBlock
  Body else_body;                                  // kIf, kFor
  std::vector<std::pair<std::string, ExprPtr>> params;  // kMacro: name, default (may be null)
};

// Parses a whole template (jinja2 with trim_blocks and lstrip_blocks, as
// Hugging Face transformers configures it). Throws TemplateError naming the
// construct and line.
Body ParseTemplate(std::string_view source);

// The filters and tests render.cc implements; the parser rejects others.
bool IsKnownFilter(std::string_view name);
bool IsKnownTest(std::string_view name);

}  // namespace vigil::worker::chat_template
