"""The kinds of error only the daemons' layer raises, in the one tree rooted in identity.errors
(identity knows nothing of daemons)."""

from __future__ import annotations

from identity.errors import AlumailError


class DaemonError(AlumailError):
    """A daemon failed to start, stop, reload or answer."""
