"""The interactive API docs under /schema, with every asset served by petit itself.

Litestar's render plugins load their JavaScript, CSS and favicon from a public CDN, so on a laptop offline,
behind a strict proxy or on a plant network the docs page stays blank. Swagger UI's files come from the
installed ``swagger-ui-bundle-v2`` package instead. Scalar (Litestar's default) is not offered: no installable
package ships its bundle, and a docs page that silently needs the internet is the problem being solved.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import OpenAPIRenderPlugin, SwaggerRenderPlugin
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path

if TYPE_CHECKING:
    from litestar import Request, Router

SCHEMA_PATH = "/schema"
ASSETS_PATH = f"{SCHEMA_PATH}/assets"

# The folder's name carries Swagger UI's version (swagger-ui-5.31.0), so an upgrade changes every asset URL
# and browsers may cache them for good.
_SWAGGER_DIR = Path(str(swagger_ui_path))
_SWAGGER_URL = f"{ASSETS_PATH}/{_SWAGGER_DIR.name}"


class _SwaggerUI(SwaggerRenderPlugin):
    """Swagger UI that also shows operation ids: the names porto_contract and app developers call them by."""

    _MARKER = b"deepLinking: true,"

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        page = super().render(request, openapi_schema)
        # Should Litestar's template change, the page still works, only without the ids (a test notices).
        return page.replace(self._MARKER, self._MARKER + b" displayOperationId: true,", 1)


def render_plugins() -> list[OpenAPIRenderPlugin]:
    """Swagger UI at /schema and /schema/swagger."""
    return [
        _SwaggerUI(
            path=["/", "/swagger"],
            js_url=f"{_SWAGGER_URL}/swagger-ui-bundle.js",
            css_url=f"{_SWAGGER_URL}/swagger-ui.css",
            standalone_preset_js_url=f"{_SWAGGER_URL}/swagger-ui-standalone-preset.js",
            favicon=f"<link rel='icon' type='image/png' href='{_SWAGGER_URL}/favicon-32x32.png'>",
        )
    ]


def assets_router() -> Router:
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[_SWAGGER_DIR.parent],
        name="apidocs_assets",
        cache_control=CacheControlHeader(max_age=365 * 24 * 3600, public=True),
    )
