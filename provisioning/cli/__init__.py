"""The ``alumail`` command: parse, call a use case, present. Each module below registers its
commands on the one group."""

from provisioning.cli import (  # noqa: F401 -- registers commands
    accounts,
    bulk,
    circles,
    dns,
    legacy,
    logs,
    oidc,
    stack,
    staff,
    web,
)
from provisioning.cli.base import main

__all__ = ["main"]
