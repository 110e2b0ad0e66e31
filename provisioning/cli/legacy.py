"""``alumail migrate`` (mail from the legacy server into the new mailboxes) and ``alumail
legacy`` (who holds a legacy mailbox, and where each holder stands)."""

from __future__ import annotations

from pathlib import Path

import click

from identity.accounts import check_uid
from identity.dit import Tree
from identity.errors import ValidationError
from provisioning.cli.base import (
    ADMINS,
    ANYONE,
    EXIT_ROWS_FAILED,
    HOST_ROOT,
    Context,
    allow,
    emit_json,
    main,
    pass_ctx,
    read_password,
    read_secret_file,
    say,
)
from provisioning.legacy import holders
from provisioning.legacy.migration import AccountReport, Job, read_jobs


@allow(ADMINS, changes=True)
@main.command()
@click.option("--uid", default=None, help="The jAccount to copy into (with --legacy-login).")
@click.option("--legacy-login", default=None, help="The login on the legacy server.")
@click.option("--password-stdin", is_flag=True, help="Read the legacy password from stdin.")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Many accounts: legacy_login,legacy_password,uid.",
)
@click.option("--master-user", default="", help="The legacy server's admin (master) login.")
@click.option(
    "--master-password-file", type=click.Path(dir_okay=False, path_type=Path), default=None
)
@click.option(
    "--dry-run", is_flag=True, help="Check each account and legacy login, count; copy nothing."
)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def migrate(
    ctx: Context,
    uid: str | None,
    legacy_login: str | None,
    password_stdin: bool,
    csv_path: Path | None,
    master_user: str,
    master_password_file: Path | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Copy mail from the legacy server (every folder, flags, dates; only what is new on a
    rerun). Exit 10 when some accounts failed (the others were copied)."""
    if csv_path is not None:
        jobs = read_jobs(csv_path)
    elif uid and legacy_login:
        password = (
            read_password(True, confirm=False, field="legacy_password") if password_stdin else ""
        ) or ""
        jobs = [Job(check_uid(uid), legacy_login, password)]
    else:
        raise ValidationError("uid", "give --uid with --legacy-login, or --csv")
    master_password = ""
    if master_password_file is not None:
        master_password = read_secret_file(master_password_file, "master-password-file")
    migrator = ctx.root.migrator(
        ctx.actor, master_user=master_user, master_password=master_password
    )
    total = len(jobs)
    done: list[AccountReport] = []

    def progress(report: AccountReport) -> None:
        done.append(report)
        if not as_json:
            state = "ok" if report.ok else f"FAILED: {report.error}"
            say(
                f"[{len(done)}/{total}] {report.uid} <- {report.login}: "
                f"{report.messages_copied} messages, {report.bytes_copied} bytes in "
                f"{report.folders} folders, {report.seconds} s, {state}"
            )

    if dry_run:
        reports = [migrator.plan(job) for job in jobs]
        for report in reports:
            if not as_json:
                state = "ok" if report.ok else f"FAILED: {report.error}"
                say(
                    f"would copy into {report.uid} from {report.login}: up to "
                    f"{report.messages_total} messages in {report.folders} folders ({state})"
                )
    else:
        reports = migrator.run(jobs, progress)
    failed = [r for r in reports if not r.ok]
    if as_json:
        emit_json(
            {"dry_run": dry_run, "accounts": [r.as_dict() for r in reports], "failed": len(failed)}
        )
    else:
        verb = "could be migrated" if dry_run else "migrated"
        say(f"alumail: {total - len(failed)} of {total} accounts {verb}, {len(failed)} failed")
    if failed:
        raise SystemExit(EXIT_ROWS_FAILED)


@main.group("legacy")
def legacy_group() -> None:
    """Holders of a legacy lifelong mailbox."""


@allow(ADMINS)
@legacy_group.command("status")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def legacy_status(ctx: Context, as_json: bool) -> None:
    """Every holder: legacy address, state (not-migrated, migrating, migrated, failed)."""
    found = holders.holders(ctx.root.connections.system, Tree(ctx.settings.base_dn))
    counts: dict[str, int] = {}
    for holder in found:
        counts[holder.state] = counts.get(holder.state, 0) + 1
    if as_json:
        emit_json(
            {
                "cutoff": ctx.settings.legacy.cutoff or None,
                "counts": counts,
                "holders": [holder.as_dict() for holder in found],
            }
        )
        return
    for holder in found:
        click.echo(f"{holder.uid}\t{holder.legacy_address}\t{holder.state}")
    say(f"alumail: {len(found)} holders: " + ", ".join(f"{n} {s}" for s, n in counts.items()))


@allow(ADMINS, changes=True)
@legacy_group.command("set")
@click.argument("uid")
@click.argument("address")
@pass_ctx
def legacy_set(ctx: Context, uid: str, address: str) -> None:
    """Record that UID holds the legacy mailbox ADDRESS (not migrated yet)."""
    address = holders.record_holder(
        ctx.root.connections.system,
        Tree(ctx.settings.base_dn),
        ctx.root.audit,
        ctx.actor,
        uid,
        address,
    )
    say(f"alumail: {uid} holds the legacy mailbox {address}")


@allow(ANYONE, changes=True)
@main.command("backup")
@click.argument("uid")
@click.option("--to", "target", type=click.Path(dir_okay=False, path_type=Path), required=True)
@pass_ctx
def backup_mailbox(ctx: Context, uid: str, target: Path) -> None:
    """Write UID's mailbox to a .tar.gz of its Maildir (folders, flags, dates)."""
    ctx.root.backups(ctx.actor).backup(uid, target)
    say(f"alumail: mailbox of {uid} written to {target}")


@allow(ANYONE, changes=True)
@main.command("restore")
@click.argument("uid")
@click.option(
    "--from", "source", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True
)
@pass_ctx
def restore_mailbox(ctx: Context, uid: str, source: Path) -> None:
    """Add the folders and messages of a backup file to UID's mailbox (nothing is deleted;
    restoring twice changes nothing)."""
    ctx.root.backups(ctx.actor).restore(uid, source)
    say(f"alumail: {source} restored into the mailbox of {uid}")


@allow(ADMINS, changes=True)
@legacy_group.command("remind")
@click.option("--dry-run", is_flag=True, help="List who would be reminded; send nothing.")
@click.option("--today", default=None, help="Act as if today were this date (YYYY-MM-DD).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def legacy_remind(ctx: Context, dry_run: bool, today: str | None, as_json: bool) -> None:
    """Mail the reminder due today to every holder who has not migrated (run daily)."""
    import datetime

    try:
        day = datetime.date.fromisoformat(today) if today else datetime.date.today()
    except ValueError as exc:
        raise ValidationError("today", "must be a date as YYYY-MM-DD") from exc
    sent = ctx.root.reminders().send(day, dry_run=dry_run)
    if as_json:
        emit_json({"dry_run": dry_run, "reminders": [r.as_dict() for r in sent]})
    else:
        for r in sent:
            click.echo(f"{r.uid}\t{r.offset} days\t{', '.join(r.recipients)}")
        verb = "would be sent" if dry_run else "sent"
        say(f"alumail: {len(sent)} reminders {verb}")


@allow(ADMINS, changes=True)
@main.command("backup-all")
@click.option("--to", "target", type=click.Path(file_okay=False, path_type=Path), required=True)
@pass_ctx
def backup_all(ctx: Context, target: Path) -> None:
    """Copy the whole running stack (directory, mail, configuration, keys) into a new folder
    under TARGET; its path is printed on stdout."""
    from provisioning.stackbackup import backup_all as run_backup

    out = run_backup(
        ctx.settings,
        target,
        system=ctx.root.connections.system,
        audit=ctx.root.audit,
        actor=ctx.actor,
    )
    click.echo(out)


@allow(HOST_ROOT, changes=True)
@main.command("restore-all")
@click.option(
    "--from", "source", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True
)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def restore_all(ctx: Context, source: Path, as_json: bool) -> None:
    """Restore a `backup-all` folder onto a fresh state directory and bring the stack up."""
    from provisioning.stackbackup import restore_all as run_restore

    result = run_restore(ctx.settings, source, actor=ctx.actor)
    if as_json:
        emit_json(result)
    else:
        say(f"alumail: restored {source} ({result['manifest']})")
