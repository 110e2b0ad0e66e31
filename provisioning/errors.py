"""The errors only provisioning raises, kinds of the one tree in identity.errors."""

from identity.errors import AuditError, VerificationError

__all__ = ["AuditError", "VerificationError"]
