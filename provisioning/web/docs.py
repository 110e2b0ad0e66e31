"""The REST API's interactive documentation at ``/docs``: Swagger UI's dist files as the
``fastapi-offline`` package ships them (Swagger UI 5, which reads the OpenAPI 3.1 FastAPI
writes; ``swagger-ui-bundle`` still ships 4.15, which refuses it), served by this service and
started by a static script, so the page runs under the same Content-Security-Policy as every
other page (``script-src 'self'``): FastAPI's own docs page loads Swagger UI from a CDN and
starts it with an inline script, both of which that policy blocks."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response

from identity.errors import NotFoundError
from provisioning.web.requests import Services, services

router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(services)]
# Only its files; nothing of fastapi-offline's code is used (its docs page starts Swagger UI
# with an inline script).
SWAGGER_UI = Path(str(files("fastapi_offline") / "static"))
# The only files the page uses; nothing else of the package is served.
ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}


@router.get("/docs")
def docs_page(request: Request, svc: Svc) -> Response:
    return svc.page(request, "docs.html", openapi_url=request.app.openapi_url)


@router.get("/docs/assets/{name}")
def docs_asset(name: str) -> Response:
    if name not in ASSETS:
        raise NotFoundError("not found")
    return FileResponse(SWAGGER_UI / name, media_type=ASSETS[name])
