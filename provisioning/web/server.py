"""Running the application under uvicorn. The access log is off: reset and confirmation links
carry their token in the query string, and no token may reach a log."""

from __future__ import annotations

import uvicorn

from mailstack.settings import Settings
from provisioning.web.app import create_app


def serve(settings: Settings) -> None:
    uvicorn.run(
        create_app(settings),
        host=settings.listen,
        port=settings.ports.web,
        access_log=False,
        log_level="warning",
        server_header=False,
        proxy_headers=False,
    )
