"""Running the application under uvicorn. The access log is off: reset and confirmation links
carry their token in the query string, and no token may reach a log."""

from __future__ import annotations

import uvicorn

from mailstack.settings import Settings
from mailstack.tls import tls_files
from provisioning.web.app import create_app


def serve(settings: Settings) -> None:
    tls: dict[str, str] = {}
    if settings.web_tls:
        files = tls_files(settings)
        tls = {"ssl_certfile": str(files.cert), "ssl_keyfile": str(files.key)}
    uvicorn.run(
        create_app(settings),
        host=settings.listen,
        port=settings.ports.web,
        access_log=False,
        log_level="warning",
        server_header=False,
        proxy_headers=False,
        **tls,  # type: ignore[arg-type]
    )
