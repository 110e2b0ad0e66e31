"""The whole stack as alumail runs it: the mail stack (slapd, Dovecot, Postfix, the outbound
sink) and, on top, the provisioning web service. Same verbs as :mod:`mailstack.stack`."""

from __future__ import annotations

from mailstack import stack as mail
from mailstack.daemon import DaemonEntry, Registry
from mailstack.settings import Settings
from mailstack.stack import UpReport
from mailstack.statelock import DEFAULT_WAIT
from provisioning.web.service import WebService

# The mail stack's registry, then the web service: started last, stopped and shown with the rest.
DAEMONS: Registry = (*mail.MAIL_DAEMONS, DaemonEntry("web", WebService))


def up(settings: Settings, *, dry_run: bool = False, lock_wait: float = DEFAULT_WAIT) -> UpReport:
    return mail.up(settings, dry_run=dry_run, registry=DAEMONS, lock_wait=lock_wait)


def down(settings: Settings, *, lock_wait: float = DEFAULT_WAIT) -> list[str]:
    return mail.down(settings, registry=DAEMONS, lock_wait=lock_wait)


def status(settings: Settings) -> dict[str, object]:
    return mail.status(settings, registry=DAEMONS)


def service_names(settings: Settings) -> list[str]:
    """The daemons this configuration runs, by name, in start order (each logs to
    ``state/log/NAME.log``)."""
    return [entry.name for entry in mail.entries(settings, DAEMONS)]
