// render.h: runs a parsed template over a context (internal).
#pragma once

#include <string>

#include "worker/chat_template/ast.h"

namespace vigil::worker::chat_template {

// Throws TemplateError naming the line and what failed.
std::string RenderBody(const Body& body, const Dict& context);

}  // namespace vigil::worker::chat_template
