"""What every ``alumail`` command shares: the group, settings and actor, error handling and
output helpers. Data goes to stdout (``--json`` for machines), messages to stderr; exit codes
are decided here and nowhere else.

Exit codes: 0 success; 1 a verification check failed or another error; 2 usage error;
3 configuration error; 4 invalid input; 5 not found; 6 conflict (already exists);
7 directory error; 8 daemon error; 9 access denied (the actor's role does not allow it);
10 some rows of an import failed (the others went in).

Every command resolves its actor (``--actor`` proven by a bind) before it runs, and runs only
for the roles it declares with :func:`allow`; a command that declares none is for the host's
root alone, so a new command is closed until someone decides who may run it.
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.table import Table

from identity.errors import (
    AccessDeniedError,
    AlumailError,
    ConfigError,
    ConflictError,
    DirectoryError,
    NotFoundError,
    ValidationError,
)
from identity.roles import ROOT, Actor, Role
from mailstack import settings as settings_module
from mailstack.errors import DaemonError
from mailstack.files import open_regular
from mailstack.settings import Settings
from provisioning.composition import Composition
from provisioning.errors import AuditError, VerificationError

EXIT_CODES: list[tuple[type[AlumailError], int]] = [
    (VerificationError, 1),
    (ConfigError, 3),
    (ValidationError, 4),
    (NotFoundError, 5),
    (ConflictError, 6),
    (DirectoryError, 7),
    (DaemonError, 8),
    (AccessDeniedError, 9),
]
EXIT_ROWS_FAILED = 10
C = TypeVar("C", bound=click.Command)

# Who may run a command (see allow()). ANYONE: the use case checks the role itself, with slapd's
# ACLs behind it, and audits a refusal.
ANYONE = frozenset(Role)
STAFF = frozenset({Role.SYSTEM, Role.ADMIN, Role.HELPDESK})
ADMINS = frozenset({Role.SYSTEM, Role.ADMIN})
HOST_ROOT = frozenset({Role.SYSTEM})

# Values from the directory may hold "[...]": printed as they are, never read as rich markup.
out = Console(soft_wrap=True, markup=False)
err = Console(stderr=True, soft_wrap=True)


def exit_code(error: AlumailError) -> int:
    for kind, code in EXIT_CODES:
        if isinstance(error, kind):
            return code
    return 1


def say(message: str) -> None:
    err.print(message, markup=False, highlight=False)


def emit_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def print_mapping(data: dict[str, Any]) -> None:
    table = Table(show_header=False)
    table.add_column("field")
    table.add_column("value")
    for key, value in data.items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        table.add_row(key, "" if value is None else shown)
    out.print(table)


def read_password(
    from_stdin: bool, *, confirm: bool, prompt: str = "Password", field: str = "password"
) -> str | None:
    """One password: a line of stdin, or a prompt on a terminal, or None (neither)."""
    if from_stdin:
        try:
            line = sys.stdin.readline(MAX_SECRET_CHARS + 1)
        except UnicodeDecodeError as exc:
            raise ValidationError(field, "standard input is not UTF-8 text") from exc
        if not _is_utf8(line):  # in the C locale Python hands bad bytes over as surrogates
            raise ValidationError(field, "standard input is not UTF-8 text")
        if not line:
            raise ValidationError(field, "nothing was given on standard input")
        if len(line) > MAX_SECRET_CHARS:
            raise ValidationError(field, f"must be at most {MAX_SECRET_CHARS} characters")
        return line.rstrip("\r\n")
    if sys.stdin.isatty():
        value: str = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
        return value
    return None


MAX_SECRET_CHARS = 4096


def read_secret_file(path: Path, field: str) -> str:
    """A password kept in a file (its first line), or a ValidationError naming ``field``."""
    try:
        with io.TextIOWrapper(open_regular(path), encoding="utf-8") as handle:
            line = handle.readline(MAX_SECRET_CHARS + 1)
    except OSError as exc:
        raise ValidationError(field, f"{path} cannot be read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ValidationError(field, f"{path} is not UTF-8 text") from exc
    if len(line) > MAX_SECRET_CHARS:
        raise ValidationError(field, f"{path}: must be at most {MAX_SECRET_CHARS} characters")
    return line.strip("\r\n")


class Context:
    def __init__(self, config: Path | None, actor: str | None, actor_password_file: Path | None):
        self.config = config
        self.actor_uid = actor
        self.actor_password_file = actor_password_file
        self._settings: Settings | None = None
        self._actor: Actor | None = None
        self._root: Composition | None = None

    @property
    def root(self) -> Composition:
        """The command's composition root: built on first use, closed when the command ends."""
        if self._root is None:
            self._root = Composition(self.settings)
        return self._root

    def close(self) -> None:
        if self._root is not None:
            self._root.close()
            self._root = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = settings_module.load(self.config, os.environ)
        return self._settings

    @property
    def actor(self) -> Actor:
        """Root over ldapi unless --actor names a staff member or alumnus, who must prove it."""
        if self._actor is None:
            if self.actor_uid is None:
                self._actor = ROOT
            else:
                self._actor = self.root.signin.resolve_actor(self.actor_uid, self._actor_password())
        return self._actor

    def _actor_password(self) -> str:
        if self.actor_password_file is not None:
            return read_secret_file(self.actor_password_file, "actor-password-file")
        if sys.stdin.isatty():
            value: str = click.prompt(f"Password for {self.actor_uid}", hide_input=True)
            return value
        raise ValidationError("actor-password-file", "give the actor's password in a file")

    def authorize(self, roles: frozenset[Role], command: str, *, changes: bool) -> None:
        """Resolve the actor (a wrong password or an unknown actor stops here) and refuse a
        role the command is not for; a refused change is audited."""
        actor = self.actor
        if actor.role in roles:
            return
        error = AccessDeniedError(f"{actor} may not run `alumail {command}`")
        if changes:
            try:
                self.root.audit.record(
                    actor, command.replace(" ", "-"), "", "denied", detail=error.message
                )
            except AuditError as lost:
                error.detail = lost.message
        raise error


def allow(roles: frozenset[Role], *, changes: bool = False) -> Callable[[C], C]:
    """Declare who may run a command (above its ``@...command``); ``changes``: it changes
    state (a refusal is audited; such commands take the state directory's lock)."""

    def mark(command: C) -> C:
        command.alumail_roles = roles  # type: ignore[attr-defined]
        command.alumail_changes = changes  # type: ignore[attr-defined]
        return command

    return mark


def authorize(click_ctx: click.Context) -> None:
    """The actor check for ``click_ctx.command`` (also called by a group that does work when
    invoked without a subcommand)."""
    command = click_ctx.command
    context = click_ctx.find_object(Context)
    if context is None:
        return
    name = click_ctx.command_path.partition(" ")[2] or command.name or ""
    context.authorize(
        getattr(command, "alumail_roles", HOST_ROOT),
        name,
        changes=getattr(command, "alumail_changes", False),
    )


class AlumailCommand(click.Command):
    def invoke(self, ctx: click.Context) -> Any:
        authorize(ctx)
        return super().invoke(ctx)


class AlumailGroup(click.Group):
    """Turns every AlumailError into one message on stderr and its exit code. Its commands and
    subgroups are of the guarded kinds above."""

    command_class = AlumailCommand
    group_class = type

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Python hands undecodable argv bytes over as lone surrogates: refuse them here, before
        # any of them reaches a rule, a file name, the directory or the audit trail.
        for position, arg in enumerate(args):
            if not _is_utf8(arg):
                before = args[position - 1] if position else ""
                field = before if before.startswith("-") else f"argument {position + 1}"
                fail(ValidationError(field, "is not valid UTF-8 text"))
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AlumailError as error:
            fail(error)


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def fail(error: AlumailError) -> NoReturn:
    """The one way an error leaves the CLI: its message on stderr and its exit code."""
    say(f"alumail: error: {error.message}")
    if error.detail:
        say(error.detail)
    sys.exit(exit_code(error))


@click.group(cls=AlumailGroup)
@click.version_option(package_name="alumail", message="alumail %(version)s")
@click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path),
    default=None,
    help="Settings file (default: $ALUMAIL_CONFIG, else ./alumail.toml if present).",
)
@click.option(
    "--actor",
    default=None,
    metavar="UID",
    help="Act as this staff member or alumnus (proven by their password) instead of "
    "the host's root.",
)
@click.option(
    "--actor-password-file",
    type=click.Path(path_type=Path),
    default=None,
    help="File holding the actor's password (else a prompt on a terminal).",
)
@click.pass_context
def main(
    ctx: click.Context, config: Path | None, actor: str | None, actor_password_file: Path | None
) -> None:
    """alumail: the alumni jAccount directory and mail stack."""
    ctx.obj = Context(config, actor, actor_password_file)
    ctx.call_on_close(ctx.obj.close)


pass_ctx = click.make_pass_decorator(Context)
