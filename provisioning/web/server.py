"""Running the application under uvicorn. The access log is off: reset and confirmation links
carry their token in the query string, and no token may reach a log.

The server faces the internet, so it runs as the unprivileged service user: started as root, it
binds its port (443 in production), loads the TLS key (root's) and everything it will import,
then drops to that user for good; the application itself is made after the drop, so nothing it
opens is root's."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from mailstack.daemons.managed import announce
from mailstack.keys.tls import tls_files
from mailstack.mailbox import imapsync, mailstore
from mailstack.privileges import drop_privileges, service_user
from mailstack.settings import Settings
from provisioning.web.app import create_app

# Imported while still root (mailstack.privileges.preload says why; codecs always are).
PRELOAD_PACKAGES = ("identity", "mailstack", "provisioning")
# tarfile opens gzip on demand (the mailbox download).
PRELOAD_MODULES = ("gzip", "uvicorn.lifespan.on", "uvicorn.protocols.http.h11_impl")


def tls_context(settings: Settings) -> ssl.SSLContext:
    files = tls_files(settings)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(files.cert), str(files.key))
    return context


class MadeAfterDrop:
    """The ASGI application, made on its first event (lifespan startup), in the dropped
    process: its store, key and connections belong to the service user."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app: FastAPI | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.app is None:
            self.app = create_app(self.settings)
        await self.app(scope, receive, send)


def listening_socket(config: uvicorn.Config) -> socket.socket:
    """The port uvicorn binds, as a socket asyncio knows for TCP. uvicorn makes it with
    ``socket.socket(family)``, whose ``proto`` is 0, and its accepted connections inherit that;
    asyncio sets TCP_NODELAY only on a socket whose ``proto`` is IPPROTO_TCP, so each
    connection kept Nagle's algorithm. uvicorn writes a response's head and body separately:
    on a kept-alive connection the body then waited for the client's delayed ACK, about
    40 ms on every request after a connection's first. Made again from its descriptor, the
    socket reads its protocol from the kernel (TCP), and every connection gets TCP_NODELAY."""
    bound = config.bind_socket()
    return socket.socket(fileno=bound.detach())


def serve(settings: Settings, *, pidfile: Path | None = None) -> None:
    """``pidfile``: the stack's (:func:`mailstack.daemons.managed.announce` writes it, as root,
    once the port is bound); ``alumail serve`` in the foreground has none."""
    user = service_user()
    context = tls_context(settings) if settings.web.tls else None
    config = uvicorn.Config(
        MadeAfterDrop(settings),
        host=settings.listen,
        port=settings.ports.web,
        access_log=False,
        log_level="warning",
        server_header=False,
        proxy_headers=False,
        ssl_context_factory=(lambda _config, _default: context) if context else None,
    )
    config.load()
    # Forked before the port is bound, so the helper (root; see its module) never holds it.
    mailstore.start_helper(settings, imapsync.pull_as_helper)
    sock = listening_socket(config)
    if pidfile is not None:
        announce(pidfile, user, packages=PRELOAD_PACKAGES, modules=PRELOAD_MODULES)
    else:
        drop_privileges(user, packages=PRELOAD_PACKAGES, modules=PRELOAD_MODULES)
    uvicorn.Server(config).run(sockets=[sock])
