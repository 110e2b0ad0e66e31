"""The verbs every daemon answers, so ``up``, ``down`` and ``status`` treat slapd, Dovecot and
Postfix alike (and, later, the nodes of a cluster)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from mailstack.files import FileSpec

if TYPE_CHECKING:
    from mailstack.context import RenderContext
    from mailstack.settings import Settings


@dataclass(frozen=True)
class Endpoint:
    service: str  # "imap", "submission", ...
    host: str
    port: int
    url: str = ""  # where people open it, for a service used in a browser (webmail)


class Daemon(Protocol):
    name: str
    logfile: Path  # what it says, quoted when it fails to start or to answer

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

    def orphans(self) -> list[int]:
        """Processes provably running this daemon for this state directory (found by their
        command line) that its pid file does not name: left by a crash or an older alumail.
        ``up`` and ``down`` stop them, before starting or after stopping the daemon."""
        ...


D = TypeVar("D", bound=Daemon)


def always(settings: Settings) -> bool:
    return True


@dataclass(frozen=True)
class DaemonEntry(Generic[D]):
    """One daemon of the stack, declared once: the start order, the programs ``preflight``
    requires and the names ``up --dry-run`` plans all come from a sequence of these."""

    name: str  # the name its daemon answers to (``Daemon.name``)
    factory: Callable[[RenderContext], D]
    programs: tuple[str, ...] = ()  # found on PATH (or /usr/sbin) before anything starts
    runs: Callable[[Settings], bool] = always  # whether this configuration has the daemon
    # Postfix defers mail while this daemon is down (the directory its maps query, Dovecot's
    # LMTP, the DKIM milter, the outbound sink): its queue is flushed once the daemon is back.
    mail_waits_on: bool = False
    # Once the daemon is up (started, reloaded or left running), before the next one starts.
    after_up: Callable[[D, RenderContext], list[str]] | None = None
    # Once the whole stack answers; given the entries whose daemons this ``up`` (re)started.
    after_ready: Callable[[D, list[DaemonEntry[Any]]], list[str]] | None = None


# The daemons of a stack in start order; a layer above appends its own entries.
Registry = tuple[DaemonEntry[Any], ...]
