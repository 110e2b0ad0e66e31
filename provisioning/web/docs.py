"""The REST API's interactive documentation at ``/docs``: Swagger UI's dist files as the
``fastapi-offline`` package ships them (Swagger UI 5, which reads the OpenAPI 3.1 FastAPI
writes; ``swagger-ui-bundle`` still ships 4.15, which refuses it), served by this service and
started by a static script, so the page runs under the same Content-Security-Policy as every
other page (``script-src 'self'``): FastAPI's own docs page loads Swagger UI from a CDN and
starts it with an inline script, both of which that policy blocks. The files are served under
their package's version (ASSETS_URL), so browsers keep them (provisioning/web/static_files.py)."""

from __future__ import annotations

from importlib.metadata import version
from importlib.resources import files
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from provisioning.web.requests import Services, services
from provisioning.web.static_files import IMMUTABLE, CachedFiles

router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(services)]
# Only its files; nothing of fastapi-offline's code is used (its docs page starts Swagger UI
# with an inline script).
SWAGGER_UI = Path(str(files("fastapi_offline") / "static"))
# The only files the page uses; nothing else of the package is served.
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css")
# A new fastapi-offline (a new Swagger UI) is a new URL: what browsers kept never goes stale.
ASSETS_URL = f"/docs/assets/{version('fastapi-offline')}"


def assets() -> CachedFiles:
    """Mounted at ASSETS_URL by the application."""
    return CachedFiles(SWAGGER_UI, IMMUTABLE, names=ASSETS)


@router.get("/docs")
def docs_page(request: Request, svc: Svc) -> Response:
    return svc.page(
        request, "docs.html", openapi_url=request.app.openapi_url, assets_url=ASSETS_URL
    )
