"""The kinds of error only provisioning raises, in the one tree rooted in identity.errors."""

from __future__ import annotations

from identity.errors import AlumailError


class AuditError(AlumailError):
    """The audit trail cannot be written (a full disk, a read-only file system): a change that
    cannot be recorded is not made."""


class VerificationError(AlumailError):
    """A verification found a check that failed: the stack's harness (``alumail verify``),
    the published DNS records (``alumail dns check``) or the audit trail's chain
    (``alumail audit --verify``)."""


class RateLimitedError(AlumailError):
    """Too many attempts of one kind by one person in a while (a flood of applications to
    circles): refused until the window has room again, in ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
