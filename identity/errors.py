"""The one exception tree: its root and the kinds every layer raises.

Every error a person may see is an AlumailError. The tree's root sits here, at the bottom of
the layers, so every layer can raise and catch it; a kind only one layer raises lives with
that layer (mailstack.errors: a daemon failed; provisioning.errors: the audit trail, a
verification) and subclasses the root. Only the faces map the classes to what a person sees:
the CLI to exit codes (provisioning/cli/base.py EXIT_CODES), the web service to HTTP statuses
(provisioning/web/app.py ERROR_STATUS)."""

from __future__ import annotations


class AlumailError(Exception):
    """Something alumail cannot do, with a message meant for a person.

    ``detail`` carries supporting text (a checker's stderr, a log tail) shown after the message.
    """

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return self.message


class ConfigError(AlumailError):
    """Settings are invalid, or a rendered configuration failed its daemon's checker."""


class ValidationError(AlumailError):
    """One input field breaks one documented rule."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


class FieldErrors(ValidationError):
    """Several fields of one form break their rules: every one is named, so a person can fix
    them all at once. The first stands as the error's field and rule."""

    def __init__(self, errors: dict[str, str]) -> None:
        field, rule = next(iter(errors.items()))
        super().__init__(field, rule)
        self.errors = dict(errors)
        if len(errors) > 1:
            self.message = "; ".join(f"{f}: {r}" for f, r in errors.items())


class NotFoundError(AlumailError):
    """The named account or entry does not exist."""


class ConflictError(AlumailError):
    """The change collides with what exists (an account already there, an address taken)."""


class AccessDeniedError(AlumailError):
    """The actor's role does not allow this (refused by alumail, or by the directory's ACLs)."""


class DirectoryError(AlumailError):
    """The LDAP directory refused an operation or could not be reached."""
