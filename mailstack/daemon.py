"""The verbs every daemon answers, so ``up``, ``down`` and ``status`` treat slapd, Dovecot and
Postfix alike (and, later, the nodes of a cluster)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from mailstack.files import FileSpec


@dataclass(frozen=True)
class Endpoint:
    service: str  # "imap", "submission", ...
    host: str
    port: int


class Daemon(Protocol):
    name: str

    def render(self) -> list[FileSpec]:
        """The daemon's configuration files (pure)."""
        ...

    def prepare(self) -> None:
        """Create the folders it needs, with their owners (idempotent)."""
        ...

    def check(self, staging: Path) -> None:
        """Run the daemon's own checker on the files rendered below ``staging``; ConfigError
        carrying the checker's output if it refuses them."""
        ...

    def pid(self) -> int | None:
        """The running master process, if it is ours."""
        ...

    def start(self) -> None: ...

    def stale(self) -> bool:
        """True when the running configuration was built from files other than those on disk."""
        ...

    def apply(self, changed: list[FileSpec]) -> None:
        """Make the running daemon use changed files (reload, or restart where it must)."""
        ...

    def stop(self) -> None: ...

    def ready(self) -> bool:
        """True once every listener answers."""
        ...

    def endpoints(self) -> list[Endpoint]: ...


@runtime_checkable
class LeavesOrphans(Protocol):
    """A daemon that can outlive its pid file (it writes the file itself, and an older alumail
    or a crash could lose it): ``up`` and ``down`` stop such orphans, found by their command
    line, before starting or after stopping the daemon."""

    def orphans(self) -> list[int]:
        """Processes provably running this daemon for this state directory that its pid file
        does not name."""
        ...
