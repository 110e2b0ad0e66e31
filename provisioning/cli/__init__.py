"""The ``alumail`` command: parse, call a use case, present. Each module below registers its
commands on the one group."""

from provisioning.cli import accounts, bulk, dns, legacy, stack, staff, web  # noqa: F401 -- registers commands
from provisioning.cli.base import main

__all__ = ["main"]
