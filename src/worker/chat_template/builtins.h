// builtins.h: jinja2's filters, tests, global functions and the Python
// methods chat templates call on strings and dicts (internal).
//
// Each behaves as jinja2 3.1 in Hugging Face's sandboxed environment does
// (tojson as transformers defines it: ensure_ascii=False, no key sorting);
// anything else throws TemplateError.
#pragma once

#include <string>
#include <string_view>

#include "worker/chat_template/value.h"

namespace vigil::worker::chat_template {

Value CallFilter(std::string_view name, const Value& in, const Args& args);
bool CallTest(std::string_view name, const Value& in, const Args& args);
// obj.name as jinja2's getattr: a method, a dict entry, or undefined.
// Throws for an attribute of an undefined value.
Value GetAttr(const Value& obj, const std::string& name);
// obj[key]: a dict entry, a list item, a character, else GetAttr for a
// string key; undefined when absent.
Value GetItem(const Value& obj, const Value& key);
// range, namespace, raise_exception, strftime_now, dict; undefined otherwise.
Value Global(const std::string& name);

// Shared by builtins.cc and filters.cc.
[[noreturn]] inline void Fail(const std::string& what) { throw TemplateError(what); }
// Argument i, or the keyword `name`, or `def`. By value: a default passed
// as a temporary must not dangle.
inline Value Arg(const Args& a, size_t i, std::string_view name, const Value& def) {
  const Value* v = a.Get(i, name);
  return v ? *v : def;
}

}  // namespace vigil::worker::chat_template
