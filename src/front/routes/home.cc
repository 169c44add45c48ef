// GET /: the page for browsers, a one-line "is running" for everything else.
//
// Content negotiation on Accept: a browser asks for text/html and gets the
// embedded page (src/front/web/index.html); Ollama's clients and other probes
// (curl, health checkers) get 200 text/plain, as Ollama answers there. The
// route is open even with --api-key: the page holds no data, and the API
// calls it makes carry the key the user types into it.
#include "front/routes/routes.h"
#include "front/text.h"
#include "front/web/web.h"

namespace vigil::front {

void HandleHome(FrontContext& /*ctx*/, const std::shared_ptr<Exchange>& ex) {
  const std::string* accept = ex->request().Header("accept");
  if (accept && AsciiLower(*accept).find("text/html") != std::string::npos) {
    // The page may talk to this server only: no CDN, no external fetch.
    ex->Respond(200, "text/html; charset=utf-8", std::string(web::kIndexHtml),
                {{"Vary", "Accept"},
                 {"Cache-Control", "no-cache"},
                 {"X-Content-Type-Options", "nosniff"},
                 {"Content-Security-Policy",
                  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                  "img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
                  "frame-ancestors 'none'"}});
    return;
  }
  ex->Respond(200, "text/plain; charset=utf-8", "vigil is running\n", {{"Vary", "Accept"}});
}

}  // namespace vigil::front
