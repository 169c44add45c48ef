// chat_template_render: the C++ side of the differential test
// (tests/chat_templates/diff_test.py).
//
//   chat_template_render TEMPLATE_FILE CASES_JSON
// CASES_JSON is a list of contexts; prints a JSON list with, per context,
// {"ok": "<rendered>"} or {"error": "<message>"}. A template that does not
// parse prints {"parse_error": "..."} and exits 0.
#include <fstream>
#include <iostream>
#include <sstream>

#include "worker/chat_template/chat_template.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: chat_template_render TEMPLATE_FILE CASES_JSON\n";
    return 2;
  }
  std::ifstream tf(argv[1], std::ios::binary), cf(argv[2], std::ios::binary);
  std::stringstream ts, cs;
  ts << tf.rdbuf();
  cs << cf.rdbuf();
  using nlohmann::ordered_json;
  auto tmpl = vigil::worker::chat_template::ChatTemplate::Parse(ts.str());
  if (!tmpl.ok()) {
    std::cout << ordered_json{{"parse_error", tmpl.error().message}}.dump() << "\n";
    return 0;
  }
  ordered_json out = ordered_json::array();
  for (const auto& ctx : ordered_json::parse(cs.str())) {
    auto r = tmpl->Render(ctx);
    out.push_back(r.ok() ? ordered_json{{"ok", *r}} : ordered_json{{"error", r.error().message}});
  }
  std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return 0;
}
