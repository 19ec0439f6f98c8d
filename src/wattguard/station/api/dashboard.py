"""The station's web dashboard: one page, its script and its style sheet (package data in
``wattguard/station/dashboard/``), served by the API's app at ``/`` and ``/dashboard``.

The page loads without a token and then calls the REST API like any client, with the token the
user enters (or hands over once in the address, ``/#token=...``), so the API's rules decide
every action. Event details and alert evidence carry what an attacker sent: the script writes
every text from the API with ``textContent``, and :data:`CONTENT_SECURITY_POLICY` lets the page
run no script but its own file and reach nothing but this origin, so markup smuggled into an
event could not run even if it were parsed.

The API's interactive description at ``/docs`` is Swagger UI, shipped inside the package too
(``dashboard/vendor/README.md``: version and shasum) and started by ``dashboard/docs.js``, so
the page works on an isolated network and runs under :data:`DOCS_POLICY`: no inline script,
nothing fetched from another origin.
"""

from collections.abc import Awaitable, Callable
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import Response

__all__ = ["CONTENT_SECURITY_POLICY", "DOCS_POLICY", "router"]

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
#: The policy of ``/docs``: the dashboard's, with the ``data:`` icons of Swagger UI's style sheet.
DOCS_POLICY = CONTENT_SECURITY_POLICY.replace("img-src 'self'", "img-src 'self' data:")
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
_DOCS_HEADERS = _HEADERS | {"Content-Security-Policy": DOCS_POLICY}
#: The files of the dashboard, by the path they are served at.
_FILES = {
    "/dashboard/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "/dashboard/dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
    "/dashboard/analytics.js": ("analytics.js", "text/javascript; charset=utf-8"),
    "/dashboard/optimisation.js": ("optimisation.js", "text/javascript; charset=utf-8"),
    "/dashboard/campaigns.js": ("campaigns.js", "text/javascript; charset=utf-8"),
    "/dashboard/charts.js": ("charts.js", "text/javascript; charset=utf-8"),
    "/dashboard/fleet.js": ("fleet.js", "text/javascript; charset=utf-8"),
    "/dashboard/commands.js": ("commands.js", "text/javascript; charset=utf-8"),
    "/dashboard/meter.js": ("meter.js", "text/javascript; charset=utf-8"),
    # uPlot, the charting library, shipped with the package (vendor/README.md)
    "/dashboard/vendor/uPlot.iife.min.js": (
        "vendor/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
    ),
    "/dashboard/vendor/uPlot.min.css": ("vendor/uPlot.min.css", "text/css; charset=utf-8"),
    "/dashboard/vendor/uPlot.LICENSE": ("vendor/uPlot.LICENSE", "text/plain; charset=utf-8"),
    # Swagger UI, for /docs, shipped with the package (vendor/README.md)
    "/docs": ("docs.html", "text/html; charset=utf-8"),
    "/docs/docs.js": ("docs.js", "text/javascript; charset=utf-8"),
    "/docs/vendor/swagger-ui-bundle.js": (
        "vendor/swagger-ui-bundle.js",
        "text/javascript; charset=utf-8",
    ),
    "/docs/vendor/swagger-ui.css": ("vendor/swagger-ui.css", "text/css; charset=utf-8"),
    "/docs/vendor/swagger-ui.LICENSE": (
        "vendor/swagger-ui.LICENSE",
        "text/plain; charset=utf-8",
    ),
    "/docs/vendor/swagger-ui.NOTICE": ("vendor/swagger-ui.NOTICE", "text/plain; charset=utf-8"),
}


def _serve(
    body: bytes, media_type: str, headers: dict[str, str] = _HEADERS
) -> Callable[[], Awaitable[Response]]:
    async def endpoint() -> Response:
        return Response(body, media_type=media_type, headers=headers)

    return endpoint


def _router() -> APIRouter:
    """The dashboard's routes (its files read once, from the installed package); none of them
    is in the OpenAPI description."""
    router = APIRouter()
    folder = files("wattguard.station") / "dashboard"
    page = _serve((folder / "index.html").read_bytes(), "text/html; charset=utf-8")
    for path in ("/", "/dashboard"):
        router.add_api_route(path, page, methods=["GET"], include_in_schema=False)
    for path, (name, media_type) in _FILES.items():
        headers = _DOCS_HEADERS if path.startswith("/docs") else _HEADERS
        asset = _serve(folder.joinpath(*name.split("/")).read_bytes(), media_type, headers)
        router.add_api_route(path, asset, methods=["GET"], include_in_schema=False)
    return router


router = _router()
