"""``alumail account ...`` and ``alumail quota ...``."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from identity.accounts import AccountStatus
from identity.passwords import generate_password
from identity.quota import format_size
from provisioning.cli.base import (
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
from provisioning.people.accounts import ACCOUNT_ORDERS


def profile_options(command: Any) -> Any:
    for option in reversed(
        [
            click.option("--given-name", default=None, help="Given name (any script)."),
            click.option("--family-name", default=None, help="Family name (any script)."),
            click.option(
                "--recovery-email", default=None, help="Address outside the service for recovery."
            ),
            click.option(
                "--student-number", default=None, help="Roster key (4-20 letters/digits)."
            ),
            click.option("--graduation-year", default=None, help="Year of graduation."),
            click.option("--class-code", default=None, help="Class code (e.g. F1503101)."),
        ]
    ):
        command = option(command)
    return command


def given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


@main.group()
def account() -> None:
    """Create, show, list, modify, suspend, resume and delete jAccounts."""


@allow(ANYONE, changes=True)
@account.command("create")
@click.argument("uid")
@click.option("--name", "display_name", required=True, help="Display name (any script).")
@profile_options
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--quota", default=None, help="Mailbox limit: 5G, 500M or bytes (default 5G).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def account_create(
    ctx: Context,
    /,
    uid: str,
    display_name: str,
    password_stdin: bool,
    quota: str | None,
    as_json: bool,
    **profile: Any,
) -> None:
    """Create the jAccount UID with its mailbox and standard folders.

    Without --password-stdin (and no terminal to prompt on) a strong password is generated
    and printed once.
    """
    password = read_password(password_stdin, confirm=True)
    generated = password is None
    if generated:
        password = generate_password()
    accounts = ctx.root.accounts(ctx.actor)
    created = accounts.create(uid, display_name, password, quota=quota, **given(**profile))
    data = created.as_dict()
    if generated:
        data["password"] = password
    if as_json:
        emit_json(data)
    else:
        say(f"created {created.uid} <{created.mail}> with a {format_size(created.quota)} mailbox")
        if generated:
            click.echo(f"password: {password}")


@allow(ANYONE)
@account.command("show")
@click.argument("uid")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def account_show(ctx: Context, uid: str, as_json: bool) -> None:
    """One account and its quota use."""
    accounts = ctx.root.accounts(ctx.actor)
    data = accounts.show(uid).as_dict()
    emit_json(data) if as_json else print_mapping(data)


@allow(ANYONE)
@account.command("list")
@click.option("--status", type=click.Choice([s.value for s in AccountStatus]), default=None)
@click.option("--year", "graduation_year", type=int, default=None, help="Graduation year.")
@click.option(
    "--search",
    default=None,
    help="Part of the name (Han or pinyin), UID, an address or the student number.",
)
@click.option("--limit", type=click.IntRange(1, 100000), default=None, help="Page size.")
@click.option("--offset", type=click.IntRange(0), default=0, help="Skip this many first.")
@click.option(
    "--sort",
    type=click.Choice(sorted(ACCOUNT_ORDERS)),
    default="uid",
    show_default=True,
    help="Order: by UID, or by name (a Han name by its pinyin), the UID breaking ties.",
)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def account_list(
    ctx: Context,
    status: str | None,
    graduation_year: int | None,
    search: str | None,
    limit: int | None,
    offset: int,
    sort: str,
    as_json: bool,
) -> None:
    """Accounts by UID (or by name), filtered and paged."""
    accounts = ctx.root.accounts(ctx.actor)
    rows = accounts.find(
        status=AccountStatus(status) if status else None,
        graduation_year=graduation_year,
        search=search,
        limit=limit,
        offset=offset,
        sort=sort,
    )
    if as_json:
        emit_json([a.as_dict() for a in rows])
        return
    table = Table()
    for column in ("uid", "name", "address", "status", "year", "quota"):
        table.add_column(column)
    for a in rows:
        table.add_row(
            a.uid,
            a.display_name,
            a.mail,
            a.status.value,
            str(a.graduation_year or ""),
            format_size(a.quota),
        )
    out.print(table)


@allow(ANYONE, changes=True)
@account.command("modify")
@click.argument("uid")
@click.option("--name", "display_name", default=None, help="Display name.")
@profile_options
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def account_modify(ctx: Context, /, uid: str, as_json: bool, **fields: Any) -> None:
    """Change profile fields. The UID never changes: it is the lifelong address (add an alias
    for another). An empty value ("") removes an optional field."""
    values = given(**fields)
    if not values:
        raise click.UsageError("name at least one field to change")
    accounts = ctx.root.accounts(ctx.actor)
    changes = accounts.modify(uid, **values)
    if as_json:
        emit_json({"uid": uid, "changed": changes})
    elif changes:
        for name, (old, new) in changes.items():
            say(f"{uid}: {name}: {old!r} -> {new!r}")
    else:
        say(f"{uid}: nothing to change")


def _status_command(name: str, status: AccountStatus, summary: str) -> None:
    @allow(ANYONE, changes=True)
    @account.command(name, help=summary)
    @click.argument("uid")
    @pass_ctx
    def command(ctx: Context, uid: str) -> None:
        accounts = ctx.root.accounts(ctx.actor)
        changed = accounts.set_status(uid, status)
        say(f"{uid} is now {status.value}" if changed else f"{uid} was already {status.value}")


_status_command(
    "suspend",
    AccountStatus.SUSPENDED,
    "Suspend UID: no login and no mail delivery, from the next attempt on.",
)
_status_command("resume", AccountStatus.ACTIVE, "Make a suspended UID active again.")


@allow(ANYONE, changes=True)
@account.command("delete")
@click.argument("uid")
@click.option(
    "--purge-mail",
    is_flag=True,
    help="Discard the mailbox instead of archiving it under state/archive/.",
)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def account_delete(ctx: Context, uid: str, purge_mail: bool, as_json: bool) -> None:
    """Delete UID. Its mailbox is archived to a .tar.gz first unless --purge-mail is given."""
    accounts = ctx.root.accounts(ctx.actor)
    archive = accounts.delete(uid, purge_mail=purge_mail)
    if as_json:
        emit_json({"uid": uid, "deleted": True, "archive": str(archive) if archive else None})
    else:
        say(
            f"deleted {uid}"
            + (
                f"; mailbox archived to {archive}"
                if archive
                else "; mailbox purged"
                if purge_mail
                else ""
            )
        )


@account.group("alias")
def alias() -> None:
    """Extra addresses delivered to (and sendable from) an account's mailbox."""


@allow(ANYONE, changes=True)
@alias.command("add")
@click.argument("uid")
@click.argument("address")
@pass_ctx
def alias_add(ctx: Context, uid: str, address: str) -> None:
    """Give UID the extra address ADDRESS (in the service's domain, owned by no one else)."""
    accounts = ctx.root.accounts(ctx.actor)
    added = accounts.add_alias(uid, address)
    say(f"{uid}: alias {address} added" if added else f"{uid} already has {address}")


@allow(ANYONE, changes=True)
@alias.command("remove")
@click.argument("uid")
@click.argument("address")
@pass_ctx
def alias_remove(ctx: Context, uid: str, address: str) -> None:
    accounts = ctx.root.accounts(ctx.actor)
    removed = accounts.remove_alias(uid, address)
    say(f"{uid}: alias {address} removed" if removed else f"{uid} has no alias {address}")


@main.group()
def quota() -> None:
    """Mailbox limits and use."""


@allow(ANYONE, changes=True)
@quota.command("set")
@click.argument("uid")
@click.argument("size")
@pass_ctx
def quota_set(ctx: Context, uid: str, size: str) -> None:
    """Set UID's mailbox limit (5G, 500M or bytes)."""
    accounts = ctx.root.accounts(ctx.actor)
    updated = accounts.set_quota(uid, size)
    say(f"{uid}: quota is {format_size(updated.quota)} ({updated.quota} bytes)")


@allow(ANYONE)
@quota.command("show")
@click.argument("uid")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def quota_show(ctx: Context, uid: str, as_json: bool) -> None:
    """Use against limit, from Dovecot."""
    accounts = ctx.root.accounts(ctx.actor)
    view = accounts.show(uid)
    use = view.quota_use
    data = {
        "uid": uid,
        "limit": view.account.quota,
        "used": use.used_bytes if use else None,
        "percent": round(use.percent or 0, 2) if use else None,
        "messages": use.messages if use else None,
    }
    emit_json(data) if as_json else print_mapping(data)


@allow(ANYONE)
@quota.command("over")
@click.argument("percent", type=float)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def quota_over(ctx: Context, percent: float, as_json: bool) -> None:
    """Accounts using more than PERCENT of their quota."""
    accounts = ctx.root.accounts(ctx.actor)
    views = accounts.over_quota(percent)
    rows = [v.as_dict() for v in views]
    if as_json:
        emit_json(rows)
        return
    table = Table()
    for column in ("uid", "used", "limit", "percent"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["uid"]),
            str(row.get("quota_used")),
            str(row["quota"]),
            f"{row.get('quota_percent')}%",
        )
    out.print(table)
