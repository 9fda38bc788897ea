"""The documentation page: Swagger UI over the OpenAPI document, with every asset served from here.

The Swagger UI files come from the swagger-ui-py package (Swagger UI 5, which renders OpenAPI 3.1),
so the page needs no network access beyond this service. Its Content-Security-Policy lets the page
load scripts and data from this origin only.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from service.errors import NotFound
from service.parsing import show

# Seconds a browser may reuse an asset without asking again.
ASSET_MAX_AGE_SECONDS = 3600

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>mocbot-archive API</title>
  <link rel="stylesheet" href="docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="docs/assets/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="docs/assets/swagger-ui-bundle.js"></script>
  <script src="docs/assets/docs-init.js"></script>
</body>
</html>
"""

# The page's own script; the relative URL resolves next to the page, under the API prefix.
INIT_SCRIPT = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // null keeps Swagger UI from sending the document to an online validator.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
"""

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def _swagger_ui_static_dir() -> Path:
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is not installed; reinstall mocbot-archive")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


_STATIC_DIR = _swagger_ui_static_dir()

# Asset name: media type, and the vendor file (None for the page's own script).
ASSETS: dict[str, tuple[str, Path | None]] = {
    "swagger-ui.css": ("text/css", _STATIC_DIR / "swagger-ui.css"),
    "swagger-ui-bundle.js": ("text/javascript", _STATIC_DIR / "swagger-ui-bundle.js"),
    "favicon-32x32.png": ("image/png", _STATIC_DIR / "favicon-32x32.png"),
    "docs-init.js": ("text/javascript", None),
}


async def docs_page(request: Request) -> Response:
    return Response(
        PAGE,
        media_type="text/html",
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY},
    )


async def docs_asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in ASSETS:
        raise NotFound(f"no documentation asset named {show(name)}")

    media_type, path = ASSETS[name]
    headers = {"Cache-Control": f"public, max-age={ASSET_MAX_AGE_SECONDS}"}
    if path is None:
        return Response(INIT_SCRIPT, media_type=media_type, headers=headers)
    return FileResponse(path, media_type=media_type, headers=headers)
