"""``alumail import`` and ``alumail export``: the roster in bulk."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from identity.accounts import AccountStatus
from provisioning.bulk.exporter import FORMATS, export
from provisioning.bulk.importer import (
    ImportReport,
    check_writable,
    count_rows,
    offline_import,
)
from provisioning.cli.base import (
    ANYONE,
    EXIT_ROWS_FAILED,
    HOST_ROOT,
    Context,
    allow,
    emit_json,
    err,
    main,
    pass_ctx,
    say,
)


class RateColumn(TextColumn):
    def __init__(self) -> None:
        super().__init__("")

    def render(self, task):  # type: ignore[no-untyped-def]
        speed = task.finished_speed or task.speed
        return f"{speed:,.0f} rows/s" if speed else ""


@allow(ANYONE, changes=True)
@main.command("import")
@click.argument("roster", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check every row and report the plan; write nothing.")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where bad rows are listed (default: ROSTER.report.csv).",
)
@click.option(
    "--offline",
    is_flag=True,
    help="First load into a new directory through slapadd (stack stopped).",
)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def import_roster(
    ctx: Context,
    roster: Path,
    dry_run: bool,
    report_path: Path | None,
    offline: bool,
    as_json: bool,
) -> None:
    """Create or update the accounts listed in ROSTER (CSV).

    Exit status 0 when every row went in, 10 when some rows failed (listed in the report; the
    others went in).
    """
    if offline:  # slapadd writes the database files directly: the host's root alone
        ctx.authorize(HOST_ROOT, "import --offline", changes=True)
        report = offline_import(ctx.settings, roster)
    else:
        importer = ctx.root.importer(ctx.actor)
        show = err.is_terminal and not as_json
        if show:
            with Progress(
                TextColumn("import"),
                BarColumn(),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                RateColumn(),
                TimeRemainingColumn(),
                console=err,
                transient=False,
            ) as bar:
                task = bar.add_task("rows", total=count_rows(roster))
                report = importer.run(
                    roster,
                    dry_run=dry_run,
                    report_path=report_path,
                    progress=lambda n: bar.advance(task, n),
                )
        else:
            report = importer.run(roster, dry_run=dry_run, report_path=report_path)
    _summary(report, as_json)
    if report.failed:
        sys.exit(EXIT_ROWS_FAILED)


def _summary(report: ImportReport, as_json: bool) -> None:
    data = report.as_dict()
    if as_json:
        data["errors"] = [e.__dict__ for e in report.errors[:100]]
        emit_json(data)
        return
    verb = "would create" if report.dry_run else "created"
    say(
        f"alumail: {report.rows} rows: {verb} {report.created}, updated {report.updated}, "
        f"unchanged {report.unchanged}, failed {report.failed} "
        f"({data['rows_per_second'] or 0:,} rows/s)"
    )
    for error in report.errors[:10]:
        say(f"  line {error.line}: {error.column}: {error.reason}")
    if report.report_file:
        say(f"  every failed row is listed in {report.report_file}")


@allow(ANYONE)
@main.command("export")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv")
@click.option("--status", type=click.Choice([s.value for s in AccountStatus]), default=None)
@click.option("--year", "graduation_year", type=int, default=None)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write here instead of standard output.",
)
@pass_ctx
def export_accounts(
    ctx: Context, fmt: str, status: str | None, graduation_year: int | None, output: Path | None
) -> None:
    """Every account (or those matching the filters) as CSV, LDIF or JSON lines."""
    status_value = AccountStatus(status) if status else None
    if output is None:
        count = export(
            ctx.settings,
            sys.stdout,
            fmt,
            ctx.root.connections.as_actor(ctx.actor),
            status=status_value,
            graduation_year=graduation_year,
        )
    else:
        partial = output.with_name(output.name + ".partial")
        check_writable(output, "output")
        with open(partial, "w", encoding="utf-8", newline="") as handle:
            count = export(
                ctx.settings,
                handle,
                fmt,
                ctx.root.connections.as_actor(ctx.actor),
                status=status_value,
                graduation_year=graduation_year,
            )
        partial.replace(output)
    say(f"alumail: exported {count} accounts")
