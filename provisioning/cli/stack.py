"""``alumail up``, ``down``, ``status`` and ``verify``: the stack as a whole."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from identity.errors import NotFoundError, ValidationError
from identity.passwords import generate_password
from mailstack.files import write_atomic
from mailstack.harness import Check
from mailstack.layout import Layout
from mailstack.settings import Settings
from mailstack.statelock import DEFAULT_WAIT
from provisioning import stack
from provisioning.cli.base import Context, emit_json, main, out, pass_ctx, read_password, say
from provisioning.errors import VerificationError
from provisioning.operations.verification import verify_account
from provisioning.people.accounts import AccountService

# -- the stack ---------------------------------------------------------------------------------

# Every command that changes the stack holds the state directory's lock (mailstack.statelock).
LOCK_WAIT = click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=DEFAULT_WAIT,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for another alumail command changing this stack to finish.",
)


@main.command()
@click.option(
    "--demo",
    "demo_uid",
    default=None,
    metavar="UID",
    help="Also provision this demo alumnus and run the verification harness (when something "
    "changed, or with --verify).",
)
@click.option(
    "--verify",
    is_flag=True,
    help="With --demo: run the verification harness even when nothing changed.",
)
@click.option("--dry-run", is_flag=True, help="Print what would change; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@LOCK_WAIT
@pass_ctx
def up(
    ctx: Context,
    demo_uid: str | None,
    verify: bool,
    dry_run: bool,
    as_json: bool,
    wait: float,
) -> None:
    """Bring the stack up (idempotent: a second run changes nothing and says so, and verifies
    only when something changed or when asked)."""
    if verify and not demo_uid:
        raise ValidationError("verify", "needs --demo UID: the harness signs in as that alumnus")
    settings = ctx.settings
    report = stack.up(settings, dry_run=dry_run, lock_wait=wait)
    result: dict[str, Any] = {
        "dry_run": dry_run,
        "changed": report.changed,
        "actions": report.actions,  # planned under --dry-run, done otherwise
        "verification": None,  # not run: dry run, no demo, or nothing changed without --verify
    }
    checks: list[Check] = []
    if demo_uid and not dry_run:
        accounts = ctx.root.accounts(ctx.actor)  # the host's root: `up` is for it alone
        demo = _ensure_demo(accounts, ctx.root.layout, demo_uid)
        result["demo"] = demo
        password = demo.pop("_password")
        # The harness leaves a test message in the demo inbox: run it when it can find
        # something new, not on every `make up`.
        if verify or report.changed or demo["created"] or demo["password_reset"]:
            checks = verify_account(accounts, demo_uid, password)
            result["verification"] = [c.as_dict() for c in checks]
    if not as_json:
        if report.changed:
            for action in report.actions:
                say(f"{'would ' if dry_run else ''}{action}")
        else:
            say("alumail: nothing to change: the stack is up and its configuration current")
    status = stack.status(settings)
    result["status"] = status
    if as_json:
        emit_json(result)
    else:
        _print_endpoints(status)
        if demo_uid and not dry_run:
            _print_demo(result["demo"])
            if checks:
                _print_checks(checks)
            else:
                say(
                    "alumail: verification not run: nothing changed since the last `up` "
                    "(--verify runs it anyway)"
                )
            _print_next(settings, result["demo"])
    if checks and not all(c.ok for c in checks):
        raise VerificationError("the verification harness found failing checks")


def _ensure_demo(service: AccountService, layout: Layout, uid: str) -> dict[str, Any]:
    path = layout.secrets / "demo.password"
    password = path.read_text().strip() if path.is_file() else None
    created = reset = False
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
        reset = True
    account = service.get(uid)
    return {
        "uid": uid,
        "address": account.mail,
        "created": created,
        "password_reset": reset,
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
    for name, info in status["services"].items():
        if info.get("url"):
            out.print(f"{name}: {info['url']}", highlight=False)
    out.print(f"mail queue: {queue_line(status['mail_queue'])}", highlight=False)
    if status.get("ca_cert"):
        out.print(f"CA certificate (trust it in clients): {status['ca_cert']}", highlight=False)
    for name, state in status.get("daemons", {}).items():
        if state.get("orphans"):
            pids = ", ".join(map(str, state["orphans"]))
            say(
                f"{name}: runs without a pid file naming it (pid {pids}); `alumail up` or "
                f"`alumail down` stops it"
            )


def queue_line(queue: dict[str, Any]) -> str:
    if "error" in queue:
        return f"unknown ({queue['error']})"
    counts = ", ".join(f"{name} {queue[name]}" for name in ("active", "deferred", "hold"))
    age = queue["oldest_age_seconds"]
    return counts + ("" if age is None else f"; oldest {age} s")


def _print_demo(demo: dict[str, Any]) -> None:
    out.print(
        f"demo login: {demo['uid']} (address {demo['address']}); "
        f"password: sudo cat {demo['password_file']}",
        highlight=False,
    )


def _print_next(settings: Settings, demo: dict[str, Any]) -> None:
    portal = settings.public_url
    out.print(
        "next:\n"
        f"  portal: {portal}/ (sign in as {demo['uid']} at {portal}/login, then open the mailbox)\n"
        f"  webmail: {settings.webmail_url}/index.php/login/oauth (signed in through the portal)\n"
        f"  helpdesk console: {portal}/helpdesk (staff sign in at {portal}/login)\n"
        "  add a staff member: alumail staff add UID --name NAME --role admin (or helpdesk)\n"
        "  load the alumni roster: alumail roster import roster.csv (columns: student_number,"
        f"name,birth_date,graduation_year,legacy_address); graduates then register at "
        f"{portal}/register\n"
        "  read the logs: alumail logs [SERVICE] [--follow] [--since 10m]\n"
        f"  mail clients: the IMAPS and submission ports above, login {demo['uid']}\n"
        "  an application that signs alumni in: alumail oidc client add NAME --redirect-uri URI\n"
        "  accounts: alumail account --help; the whole stack: alumail status, alumail down; "
        "verify again: alumail up --demo UID --verify",
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
@LOCK_WAIT
@pass_ctx
def down(ctx: Context, as_json: bool, wait: float) -> None:
    """Stop every daemon this stack started (and nothing else)."""
    stopped = stack.down(ctx.settings, lock_wait=wait)
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
    checks = verify_account(ctx.root.accounts(ctx.actor), uid, password)
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
