// web.h: the page GET / serves to browsers, embedded at build time from
// src/front/web/index.html (src/front/web/embed.cmake). One self-contained
// HTML file: its CSS and script are inline, it loads nothing else.
#pragma once

#include <string_view>

namespace vigil::front::web {

extern const std::string_view kIndexHtml;

}  // namespace vigil::front::web
