"""Files the browser may keep: every page and API answer is ``Cache-Control: no-store``
(provisioning/web/security.py), which made /docs fetch Swagger UI's 1.5 MB on every visit.

Two kinds of file, two rules:

- Swagger UI's files (``/docs/assets/<fastapi-offline's version>/...``): the version is in the
  URL, so a file under it never changes; browsers keep it a year without asking again.
- Our own /static files (site.css, forms.js, docs.js): they change with alumail's code at any
  upgrade, so browsers keep them but ask each time (``no-cache``); Starlette's ETag and
  Last-Modified make that question a ``304 Not Modified`` without a body.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from fastapi import HTTPException
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


class CachedFiles(StaticFiles):
    """StaticFiles (ETag, Last-Modified, 304 on If-None-Match) with a Cache-Control of its own,
    serving only ``names`` when given (a package's folder holds more than we mean to serve)."""

    def __init__(
        self, directory: Path, cache_control: str, names: Collection[str] | None = None
    ) -> None:
        super().__init__(directory=str(directory))
        self.cache_control = cache_control
        self.names = None if names is None else frozenset(names)

    async def get_response(self, path: str, scope: Scope) -> Response:
        if self.names is not None and path not in self.names:
            raise HTTPException(status_code=404)
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = self.cache_control
        return response
