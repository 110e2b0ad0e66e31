"""``alumail serve``, ``alumail roster`` and ``alumail token``: the web service, the roster it
registers graduates against, and the bearer tokens of its API."""

from __future__ import annotations

import datetime
from pathlib import Path

import click
from rich.table import Table

from provisioning.cli.base import (
    ADMINS,
    EXIT_ROWS_FAILED,
    HOST_ROOT,
    STAFF,
    Context,
    allow,
    emit_json,
    main,
    out,
    pass_ctx,
    say,
)
from provisioning.people import api_tokens, roster
from provisioning.people.roster import ROSTER_ORDERS


@allow(HOST_ROOT)
@main.command()
@pass_ctx
def serve(ctx: Context) -> None:
    """Run the web service in the foreground (``up`` runs it in the background)."""
    from provisioning.web.server import serve as run

    settings = ctx.settings
    say(f"alumail: serving {settings.public_url} (Ctrl-C stops)")
    run(settings)


@main.group("roster")
def roster_group() -> None:
    """The alumni roster: graduates entitled to register a jAccount."""


@allow(ADMINS, changes=True)
@roster_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check every row and count the changes only.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def roster_import(ctx: Context, path: Path, dry_run: bool, as_json: bool) -> None:
    """Add or update graduates from a CSV (student_number,name,birth_date,graduation_year,
    legacy_address). Creates no account. Exit 10 when some rows failed (the others went in)."""
    report = ctx.root.roster().load_csv(ctx.actor, path, dry_run=dry_run)
    if as_json:
        emit_json({"dry_run": dry_run, **report.as_dict()})
    else:
        for line, column, reason in report.errors:
            say(f"{path}:{line}: {column}: {reason}")
        verb = "would be " if dry_run else ""
        say(
            f"alumail: roster: {report.added} {verb}added, {report.updated} {verb}updated, "
            f"{report.unchanged} unchanged, {len(report.errors)} failed"
        )
    if report.errors:
        raise SystemExit(EXIT_ROWS_FAILED)


@allow(ADMINS)
@roster_group.command("status")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def roster_status(ctx: Context, as_json: bool) -> None:
    """How many graduates the roster holds, and how many have registered."""
    counts = roster.counts(ctx.root.store)
    if as_json:
        emit_json(counts)
    else:
        click.echo(f"{counts['graduates']} graduates, {counts['registered']} registered")


@allow(STAFF)
@roster_group.command("list")
@click.option("--unregistered", is_flag=True, help="Only graduates who have not registered.")
@click.option(
    "--search", default=None, help="Part of the name (Han, pinyin, Latin) or student number."
)
@click.option(
    "--sort",
    type=click.Choice(ROSTER_ORDERS),
    default="student_number",
    show_default=True,
    help="Order: by student number, or by name (a Han name by its pinyin).",
)
@click.option("--limit", type=click.IntRange(1, 100000), default=None, help="Page size.")
@click.option("--offset", type=click.IntRange(0), default=0, help="Skip this many first.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def roster_list(
    ctx: Context,
    unregistered: bool,
    search: str | None,
    sort: str,
    limit: int | None,
    offset: int,
    as_json: bool,
) -> None:
    """Graduates on the roster (staff: the helpdesk's search, listed), with the account each
    registered, if any. Birth dates are not shown: they prove a graduate at registration."""
    desk = ctx.root.helpdesk(ctx.actor)
    rows = [
        g.listed()
        for g in desk.roster(
            search=search, unregistered=unregistered, limit=limit, offset=offset, sort=sort
        )
    ]
    if as_json:
        emit_json(rows)
        return
    table = Table()
    for column in ("student number", "name", "latin name", "year", "class", "account"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            *(
                "" if row[key] is None else str(row[key])
                for key in (
                    "student_number",
                    "name",
                    "latin_name",
                    "graduation_year",
                    "class_code",
                    "registered_uid",
                )
            )
        )
    out.print(table)


@main.group("token")
def token_group() -> None:
    """Bearer tokens for the HTTP API (issued to staff members)."""


@allow(ADMINS, changes=True)
@token_group.command("issue")
@click.argument("uid")
@click.option("--label", required=True, help="What the token is for (shown in `token list`).")
@pass_ctx
def token_issue(ctx: Context, uid: str, label: str) -> None:
    """Issue a token acting as staff member UID; the token is printed once, on stdout."""
    issued = ctx.root.api_tokens().issue(ctx.actor, uid, label)
    say(f"alumail: token {issued.info.id} issued to {uid} ({issued.role}); it is shown once")
    click.echo(issued.token)


@allow(ADMINS, changes=True)
@token_group.command("revoke")
@click.argument("token_id")
@pass_ctx
def token_revoke(ctx: Context, token_id: str) -> None:
    """Revoke a token by its id (see `token list`)."""
    changed = ctx.root.api_tokens().revoke(ctx.actor, token_id)
    say(f"alumail: token {token_id} {'revoked' if changed else 'was revoked already'}")


@allow(ADMINS)
@token_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def token_list(ctx: Context, as_json: bool) -> None:
    """Every token: id, staff member, label, dates (never the token itself)."""
    tokens = api_tokens.listing(ctx.root.store)
    if as_json:
        emit_json([t.as_dict() for t in tokens])
        return
    for t in tokens:
        state = "revoked" if t.revoked else "active"
        created = datetime.datetime.fromtimestamp(t.created, datetime.UTC).isoformat(
            timespec="seconds"
        )
        click.echo(f"{t.id}  {t.uid}  {state}  {created}  {t.label}")
