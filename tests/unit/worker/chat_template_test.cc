// The chat-template interpreter, construct by construct (chat_template.h).
// Expected strings are what python3-jinja2 prints with Hugging Face's
// settings (trim_blocks, lstrip_blocks).
#include "worker/chat_template/chat_template.h"

#include <gtest/gtest.h>

namespace vigil::worker::chat_template {
namespace {

using nlohmann::ordered_json;

std::string Render(std::string_view src, const ordered_json& ctx = ordered_json::object()) {
  auto t = ChatTemplate::Parse(src);
  if (!t.ok()) return "PARSE: " + t.error().message;
  auto r = t->Render(ctx);
  return r.ok() ? *r : "RENDER: " + r.error().message;
}

TEST(ChatTemplate, TextAndExpressions) {
  EXPECT_EQ(Render("a{{ 1 + 2 }}b"), "a3b");
  EXPECT_EQ(Render("{{ 'x' ~ 1 ~ none }}"), "x1None");
  EXPECT_EQ(Render("{{ 7 // 2 }} {{ 7 / 2 }} {{ -7 % 3 }} {{ 2 ** 10 }}"), "3 3.5 2 1024");
  EXPECT_EQ(Render("{{ [1, 'a', none, true] }}"), "[1, 'a', None, True]");
  EXPECT_EQ(Render("{{ {'a': 1} }}"), "{'a': 1}");
  EXPECT_EQ(Render("{{ 'abc'[::-1] }}{{ [1,2,3][1:] }}{{ 'héllo'[1] }}"), "cba[2, 3]é");
  EXPECT_EQ(Render("{{ x if x else 'no' }}"), "no");
  EXPECT_EQ(Render("{{ undefined_thing }}|"), "|");
  EXPECT_EQ(Render("{{ 1 == 1.0 and 'a' in 'cat' and 3 not in [1, 2] }}"), "True");
  EXPECT_EQ(Render("{{ 0.1 + 0.2 }} {{ 10.0 ** 20 }} {{ 1 / 3 }} {{ 2.0 }} {{ 0.0001 / 10 }} {{ -1.5 }}"),
            "0.30000000000000004 1e+20 0.3333333333333333 2.0 1e-05 -1.5");
}

TEST(ChatTemplate, WhitespaceControl) {
  EXPECT_EQ(Render("{% if true %}\nyes\n{% endif %}\nafter"), "yes\nafter");
  EXPECT_EQ(Render("  {% if true %}x{% endif %}"), "x");
  EXPECT_EQ(Render("a  {%- if true -%}  b  {%- endif %}"), "ab");
  EXPECT_EQ(Render("a {{- ' b ' -}} c"), "a b c");
  EXPECT_EQ(Render("{# note #}\nx{# y -#}   z"), "xz");
  EXPECT_EQ(Render("line\n"), "line");  // keep_trailing_newline=False
  EXPECT_EQ(Render("{% raw %}{{ x }}{% endraw %}"), "{{ x }}");
}

TEST(ChatTemplate, LoopsAndScopes) {
  EXPECT_EQ(Render("{% for x in [1,2,3] %}{{ loop.index }}{{ x }}{% if not loop.last %},{% endif %}{% endfor %}"),
            "11,22,33");
  EXPECT_EQ(Render("{% for x in [] %}a{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(Render("{% for x in range(5) if x is odd %}{{ x }}{% endfor %}"), "13");
  EXPECT_EQ(Render("{% for x in range(9) %}{% if x == 3 %}{% break %}{% endif %}{{ x }}{% endfor %}"), "012");
  EXPECT_EQ(Render("{% set n = 1 %}{% for x in [1] %}{% set n = 2 %}{% endfor %}{{ n }}"), "1");
  EXPECT_EQ(Render("{% set ns = namespace(n=1) %}{% for x in [1] %}{% set ns.n = 2 %}{% endfor %}{{ ns.n }}"), "2");
  EXPECT_EQ(Render("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}"), "a=1;b=2;");
  EXPECT_EQ(Render("{% set x %}in{{ 1 }}{% endset %}{{ x }}"), "in1");
  EXPECT_EQ(Render("{% macro m(a, b='B') %}[{{ a }}{{ b }}]{% endmacro %}{{ m(1) }}{{ m(1, b=2) }}"), "[1B][12]");
}

TEST(ChatTemplate, FiltersTestsAndMethods) {
  EXPECT_EQ(Render("{{ '  hi  ' | trim }}|{{ 'ab' | upper }}|{{ [1,2] | length }}|{{ none | default('d') }}"),
            "hi|AB|2|None");
  EXPECT_EQ(Render("{{ u | default('d') }}"), "d");
  EXPECT_EQ(Render("{{ {'a': [1, 'é', none]} | tojson }}"), "{\"a\": [1, \"é\", null]}");
  EXPECT_EQ(Render("{{ [1] | tojson(indent=2) }}"), "[\n  1\n]");
  EXPECT_EQ(Render("{{ ['a','b'] | join(', ') }}{{ 'a-b'.split('-') }}"), "a, b['a', 'b']");
  EXPECT_EQ(Render("{{ m | selectattr('role', 'equalto', 'user') | map(attribute='c') | list }}",
                   {{"m", {{{"role", "user"}, {"c", 1}}, {{"role", "x"}, {"c", 2}}}}}),
            "[1]");
  EXPECT_EQ(Render("{{ 'Hello'.startswith('He') }}{{ 'x' is string }}{{ 3 is divisibleby 3 }}{{ u is defined }}"),
            "TrueTrueTrueFalse");
  EXPECT_EQ(Render("{{ d.get('k', 'none') }}{{ d.k }}", {{"d", {{"k", "v"}}}}), "vv");
  EXPECT_EQ(Render("{{ 'a<b' | e }}"), "a&lt;b");
  EXPECT_EQ(Render("{{ 'a\nb' | indent(2) }}"), "a\n  b");
}

TEST(ChatTemplate, ErrorsNameTheConstruct) {
  EXPECT_EQ(Render("{% include 'x' %}"), "PARSE: chat template: line 1: unsupported tag 'include'");
  EXPECT_EQ(Render("\n{{ x | frobnicate }}"), "PARSE: chat template: line 2: unsupported filter 'frobnicate'");
  EXPECT_EQ(Render("{{ x is frob }}"), "PARSE: chat template: line 1: unsupported test 'frob'");
  EXPECT_EQ(Render("{% if x %}"), "PARSE: chat template: line 1: missing {% elif %}");
  EXPECT_EQ(Render("{{ 'abc }}"), "PARSE: chat template: line 1: unterminated string");
  EXPECT_EQ(Render("{{ raise_exception('no system') }}"), "RENDER: chat template: line 1: raise_exception: no system");
  EXPECT_EQ(Render("{{ u.x }}"), "RENDER: chat template: line 1: 'u' is undefined");
  EXPECT_EQ(Render(std::string(1000, '(')), std::string(1000, '('));  // text, not an expression
  EXPECT_NE(Render("{{ " + std::string(1000, '(') + " }}").find("nested too deep"), std::string::npos);
  EXPECT_NE(Render("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}").find("iterations"),
            std::string::npos);
}

}  // namespace
}  // namespace vigil::worker::chat_template
