"""``alumail helpdesk ...``, ``staff ...``, ``passwd`` and ``audit``."""

from __future__ import annotations

import datetime
import sys

import click
from rich.table import Table

from identity.errors import ValidationError
from identity.roles import Role
from provisioning.cli.base import (
    ADMINS,
    ANYONE,
    Context,
    allow,
    emit_json,
    main,
    out,
    pass_ctx,
    print_mapping,
    read_password,
    say,
)
from provisioning.errors import VerificationError
from provisioning.people import api_tokens


@main.group()
def helpdesk() -> None:
    """Reset a password, clear a lockout, see an alumnus's state (never a staff account)."""


@allow(ANYONE, changes=True)
@helpdesk.command("reset-password")
@click.argument("uid")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Take the temporary password from standard input instead of generating one.",
)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def reset_password(ctx: Context, uid: str, password_stdin: bool, as_json: bool) -> None:
    """Give UID a temporary password; mail login works again once they change it."""
    chosen = read_password(password_stdin, confirm=False) if password_stdin else None
    desk = ctx.root.helpdesk(ctx.actor)
    temporary = desk.reset_password(uid, chosen)
    if as_json:
        emit_json(
            {
                "uid": uid,
                "temporary_password": temporary if chosen is None else None,
                "must_change_password": True,
            }
        )
        return
    say(f"{uid}: password reset; it must be changed (alumail passwd) before mail login works")
    if chosen is None:
        click.echo(f"temporary password: {temporary}")


@allow(ANYONE, changes=True)
@helpdesk.command("unlock")
@click.argument("uid")
@pass_ctx
def unlock(ctx: Context, uid: str) -> None:
    """Clear UID's lockout after repeated failed logins."""
    desk = ctx.root.helpdesk(ctx.actor)
    changed = desk.unlock(uid)
    say(f"{uid}: unlocked" if changed else f"{uid} was not locked")


@allow(ANYONE)
@helpdesk.command("status")
@click.argument("uid")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def status(ctx: Context, uid: str, as_json: bool) -> None:
    """Locked? Must change password? Recent failures, last login, quota use."""
    desk = ctx.root.helpdesk(ctx.actor)
    data = desk.status(uid).as_dict()
    emit_json(data) if as_json else print_mapping(data)


@main.group()
def staff() -> None:
    """Admins and helpdesk members (root or an admin only)."""


@allow(ANYONE, changes=True)
@staff.command("add")
@click.argument("uid")
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(["admin", "helpdesk"]), required=True)
@click.option("--password-stdin", is_flag=True)
@pass_ctx
def staff_add(ctx: Context, uid: str, name: str, role: str, password_stdin: bool) -> None:
    password = read_password(password_stdin, confirm=True)
    if password is None:
        raise ValidationError("password", "give it with --password-stdin or at the prompt")
    service = ctx.root.staff(ctx.actor)
    service.add(uid, name, Role(role), password)
    say(f"added {role} {uid}")


@allow(ANYONE, changes=True)
@staff.command("remove")
@click.argument("uid")
@pass_ctx
def staff_remove(ctx: Context, uid: str) -> None:
    service = ctx.root.staff(ctx.actor)
    service.remove(uid)
    # Its API tokens are bound to the removed entry and refused anyway; revoke them now too.
    api_tokens.revoke_all(ctx.root.store, uid)
    say(f"removed {uid}")


@allow(ANYONE, changes=True)
@staff.command("role")
@click.argument("uid")
@click.argument("role", type=click.Choice(["admin", "helpdesk"]))
@pass_ctx
def staff_role(ctx: Context, uid: str, role: str) -> None:
    """Make a staff member an admin or a helpdesk member."""
    service = ctx.root.staff(ctx.actor)
    changed = service.set_role(uid, Role(role))
    say(f"{uid} is {'now' if changed else 'already'} {role}")


@allow(ANYONE)
@staff.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def staff_list(ctx: Context, as_json: bool) -> None:
    service = ctx.root.staff(ctx.actor)
    rows = service.members()
    if as_json:
        emit_json(rows)
        return
    table = Table()
    table.add_column("uid")
    table.add_column("role")
    for row in rows:
        table.add_row(row["uid"], row["role"])
    out.print(table)


@allow(ANYONE, changes=True)
@main.command()
@click.argument("uid")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read two lines from standard input: the current password, then the new.",
)
@pass_ctx
def passwd(ctx: Context, uid: str, password_stdin: bool) -> None:
    """An alumnus changes their own password (also completes a change forced by a reset)."""
    current = read_password(password_stdin, confirm=False, prompt="Current password")
    new = read_password(password_stdin, confirm=True, prompt="New password")
    if current is None or new is None:
        raise ValidationError("password", "give both with --password-stdin or at the prompts")
    ctx.root.passwords.change_own(uid, current, new)
    say(f"{uid}: password changed")


@allow(ADMINS)
@main.command()
@click.option("--target", default=None, help="Only lines about this UID.")
@click.option("--actor", "by", default=None, help="Only lines by this actor.")
@click.option("--action", default=None, help="Only this action (create, reset-password, ...).")
@click.option("--since", default=None, help="Only lines at or after this ISO date/time (UTC).")
@click.option("--verify", is_flag=True, help="Check the hash chain; exit 1 if it is broken.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def audit(
    ctx: Context,
    target: str | None,
    by: str | None,
    action: str | None,
    since: str | None,
    verify: bool,
    as_json: bool,
) -> None:
    """Read the audit trail."""
    log = ctx.root.audit
    if verify:
        broken = log.verify()
        if broken is not None:
            raise VerificationError(f"the audit trail is broken at line {broken}")
        say("alumail: the audit trail's hash chain is intact")
        unfinished = log.unfinished()
        if unfinished:
            say(
                f"alumail: {len(unfinished)} actions began with no outcome recorded "
                "(still running, or their outcome could not be written):"
            )
            for line in unfinished:
                say(f"  {line['time']} {line['actor']} {line['action']} {line['target']}")
        return
    when = None
    if since:
        try:
            when = datetime.datetime.fromisoformat(since)
        except ValueError as exc:
            raise ValidationError("since", "must be an ISO date such as 2026-11-28") from exc
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)
    lines = log.query(target=target, actor=by, action=action, since=when)
    if as_json:
        emit_json(lines)
        return
    for line in lines:
        changes = line.get("changes")
        sys.stdout.write(
            f"{line['time']} {line['actor']} {line['action']} {line['target']} "
            f"{line['outcome']}{' ' + str(changes) if changes else ''}"
            f"{' (' + str(line['detail']) + ')' if line.get('detail') else ''}\n"
        )
