"""The ``alumail`` command: parse, call a use case, present. Data goes to stdout (``--json``
for machines), messages to stderr; exit codes are decided here and nowhere else.

Exit codes: 0 success; 1 a verification check failed or another error; 2 usage error;
3 configuration error; 4 invalid input; 5 not found; 6 conflict (already exists);
7 directory error; 8 daemon error.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from identity.accounts import AccountStatus
from identity.errors import (
    AlumailError,
    ConfigError,
    ConflictError,
    DaemonError,
    DirectoryError,
    NotFoundError,
    ValidationError,
    VerificationError,
)
from identity.passwords import generate_password
from mailstack import settings as settings_module
from mailstack import stack
from mailstack.files import write_atomic
from mailstack.harness import Check
from mailstack.layout import Layout
from mailstack.settings import Settings
from provisioning.accounts import AccountService
from provisioning.verification import verify_account

EXIT_CODES: list[tuple[type[AlumailError], int]] = [
    (VerificationError, 1),
    (ConfigError, 3),
    (ValidationError, 4),
    (NotFoundError, 5),
    (ConflictError, 6),
    (DirectoryError, 7),
    (DaemonError, 8),
]

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


def exit_code(error: AlumailError) -> int:
    for kind, code in EXIT_CODES:
        if isinstance(error, kind):
            return code
    return 1


def say(message: str) -> None:
    err.print(message, markup=False, highlight=False)


def emit_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def read_password(from_stdin: bool, *, confirm: bool) -> str | None:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise ValidationError("password", "nothing was given on standard input")
        return line.rstrip("\r\n")
    if sys.stdin.isatty():
        value: str = click.prompt("Password", hide_input=True, confirmation_prompt=confirm)
        return value
    return None


class Context:
    def __init__(self, config: Path | None) -> None:
        self.config = config
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = settings_module.load(self.config, os.environ)
        return self._settings


class AlumailGroup(click.Group):
    """Turns every AlumailError into one message on stderr and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AlumailError as error:
            say(f"alumail: error: {error.message}")
            if error.detail:
                say(error.detail)
            sys.exit(exit_code(error))


@click.group(cls=AlumailGroup)
@click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path),
    default=None,
    help="Settings file (default: $ALUMAIL_CONFIG, else ./alumail.toml if present).",
)
@click.pass_context
def main(ctx: click.Context, config: Path | None) -> None:
    """alumail: the alumni jAccount directory and mail stack."""
    ctx.obj = Context(config)


pass_ctx = click.make_pass_decorator(Context)


# -- the stack ---------------------------------------------------------------------------------


@main.command()
@click.option(
    "--demo",
    "demo_uid",
    default=None,
    metavar="UID",
    help="Also provision this demo alumnus and run the verification harness.",
)
@click.option("--dry-run", is_flag=True, help="Print what would change; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def up(ctx: Context, demo_uid: str | None, dry_run: bool, as_json: bool) -> None:
    """Bring the stack up (idempotent: a second run changes nothing and says so)."""
    settings = ctx.settings
    report = stack.up(settings, dry_run=dry_run)
    verb = "would" if dry_run else "did"
    if not as_json:
        if report.changed:
            for action in report.actions:
                say(f"{'would ' if dry_run else ''}{action}")
        else:
            say("alumail: nothing to change: the stack is up and its configuration current")
    result: dict[str, Any] = {
        "dry_run": dry_run,
        "changed": report.changed,
        f"{verb}": report.actions,
    }
    checks: list[Check] = []
    if demo_uid and not dry_run:
        demo = _ensure_demo(settings, demo_uid)
        result["demo"] = demo
        checks = verify_account(settings, demo_uid, demo.pop("_password"))
        result["verification"] = [c.as_dict() for c in checks]
    status = stack.status(settings)
    result["status"] = status
    if as_json:
        emit_json(result)
    else:
        _print_endpoints(status)
        if demo_uid and not dry_run:
            _print_demo(result["demo"])
            _print_checks(checks)
    if checks and not all(c.ok for c in checks):
        raise VerificationError("the verification harness found failing checks")


def _ensure_demo(settings: Settings, uid: str) -> dict[str, Any]:
    path = Layout(settings.state_dir).secrets / "demo.password"
    with AccountService(settings) as service:
        password = path.read_text().strip() if path.is_file() else None
        created = False
        try:
            service.get(uid)
        except NotFoundError:
            password = password or generate_password()
            write_atomic(path, password + "\n", mode=0o600)
            service.create(uid, "Demo Alumnus", password)
            created = True
        if password is None:
            # The account exists but its demo password was lost: give it a new one.
            password = generate_password()
            write_atomic(path, password + "\n", mode=0o600)
            service.set_password(uid, password)
        account = service.get(uid)
    return {
        "uid": uid,
        "address": account.mail,
        "created": created,
        "password_file": str(path),
        "_password": password,
    }


def _print_endpoints(status: dict[str, Any]) -> None:
    table = Table(title=f"alumail: {status['domain']}", title_justify="left")
    for column in ("service", "host", "port", "running"):
        table.add_column(column)
    for name, info in status["services"].items():
        table.add_row(name, info["host"], str(info["port"]), "yes" if info["running"] else "NO")
    out.print(table)
    if status.get("ca_cert"):
        out.print(f"CA certificate (trust it in clients): {status['ca_cert']}", highlight=False)


def _print_demo(demo: dict[str, Any]) -> None:
    out.print(
        f"demo login: {demo['uid']} (address {demo['address']}); "
        f"password: sudo cat {demo['password_file']}",
        highlight=False,
    )


def _print_checks(checks: list[Check]) -> None:
    table = Table(title="verification", title_justify="left")
    for column in ("check", "result", "detail", "seconds"):
        table.add_column(column)
    for check in checks:
        table.add_row(
            check.name, "pass" if check.ok else "FAIL", check.detail, f"{check.seconds:.2f}"
        )
    out.print(table)


@main.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def down(ctx: Context, as_json: bool) -> None:
    """Stop every daemon this stack started (and nothing else)."""
    stopped = stack.down(ctx.settings)
    if as_json:
        emit_json({"stopped": stopped})
    elif stopped:
        say(f"stopped {', '.join(stopped)}")
    else:
        say("alumail: nothing to stop")


@main.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def status(ctx: Context, as_json: bool) -> None:
    """Each endpoint and whether it answers."""
    data = stack.status(ctx.settings)
    if as_json:
        emit_json(data)
    else:
        _print_endpoints(data)


@main.command()
@click.argument("uid")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def verify(ctx: Context, uid: str, password_stdin: bool, as_json: bool) -> None:
    """Prove UID logs in over IMAP, POP3 and SMTP and receives mail; exit 0 only if all pass."""
    password = read_password(password_stdin, confirm=False)
    if password is None:
        raise ValidationError("password", "give it with --password-stdin or at the prompt")
    checks = verify_account(ctx.settings, uid, password)
    if as_json:
        emit_json(
            {"uid": uid, "ok": all(c.ok for c in checks), "checks": [c.as_dict() for c in checks]}
        )
    else:
        _print_checks(checks)
    if not all(c.ok for c in checks):
        raise VerificationError(
            f"{sum(not c.ok for c in checks)} of {len(checks)} checks failed for {uid}"
        )


# -- accounts ------------------------------------------------------------------------------------


@main.group()
def account() -> None:
    """Create, show and list jAccounts."""


@account.command("create")
@click.argument("uid")
@click.option("--name", "display_name", required=True, help="Display name (any script).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--quota", default=None, help="Mailbox limit: 5G, 500M or bytes (default 5G).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def account_create(
    ctx: Context,
    uid: str,
    display_name: str,
    password_stdin: bool,
    quota: str | None,
    as_json: bool,
) -> None:
    """Create the jAccount UID with its mailbox and standard folders.

    Without --password-stdin (and no terminal to prompt on) a strong password is generated
    and printed once.
    """
    password = read_password(password_stdin, confirm=True)
    generated = password is None
    if generated:
        password = generate_password()
    with AccountService(ctx.settings) as service:
        created = service.create(uid, display_name, password, quota=quota)
    data = created.as_dict()
    if generated:
        data["password"] = password
    if as_json:
        emit_json(data)
    else:
        say(f"created {created.uid} <{created.mail}> with a {created.quota} byte mailbox")
        if generated:
            click.echo(f"password: {password}")


@account.command("show")
@click.argument("uid")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def account_show(ctx: Context, uid: str, as_json: bool) -> None:
    """One account and its quota use."""
    with AccountService(ctx.settings) as service:
        view = service.show(uid)
    data = view.as_dict()
    if as_json:
        emit_json(data)
        return
    table = Table(show_header=False)
    table.add_column("field")
    table.add_column("value")
    for key, value in data.items():
        table.add_row(key, ", ".join(value) if isinstance(value, list) else str(value))
    out.print(table)


@account.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def account_list(ctx: Context, as_json: bool) -> None:
    """Every account, by UID."""
    with AccountService(ctx.settings) as service:
        accounts = service.list()
    if as_json:
        emit_json([a.as_dict() for a in accounts])
        return
    table = Table()
    for column in ("uid", "name", "address", "status", "quota"):
        table.add_column(column)
    for a in accounts:
        table.add_row(a.uid, a.display_name, a.mail, a.status.value, str(a.quota))
    out.print(table)


def _status_command(name: str, status: AccountStatus, summary: str) -> None:
    @account.command(name, help=summary)
    @click.argument("uid")
    @pass_ctx
    def command(ctx: Context, uid: str) -> None:
        with AccountService(ctx.settings) as service:
            changed = service.set_status(uid, status)
        say(f"{uid} is now {status.value}" if changed else f"{uid} was already {status.value}")


_status_command(
    "suspend",
    AccountStatus.SUSPENDED,
    "Suspend UID: no login, no mail delivery, from the next attempt on.",
)
_status_command("resume", AccountStatus.ACTIVE, "Make a suspended UID active again.")


@account.command("set-quota")
@click.argument("uid")
@click.argument("size")
@pass_ctx
def account_set_quota(ctx: Context, uid: str, size: str) -> None:
    """Set UID's mailbox limit (5G, 500M or bytes)."""
    with AccountService(ctx.settings) as service:
        updated = service.set_quota(uid, size)
    say(f"{uid}: quota is now {updated.quota} bytes")
