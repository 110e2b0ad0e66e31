"""``alumail logs``: the stack's own logs under ``state/log``, one service or all of them."""

from __future__ import annotations

import os
import sys

import click

from identity.errors import ValidationError
from mailstack import logs
from mailstack.layout import Layout
from provisioning import stack
from provisioning.cli.base import Context, main, pass_ctx


@main.command("logs")
@click.argument("service", required=False)
@click.option("--follow", "-f", is_flag=True, help="Keep printing lines as they are written.")
@click.option(
    "--since",
    metavar="DURATION|TIME",
    default=None,
    help="Only lines written since then: 30s, 10m, 2h, 1d, or a local time such as "
    "2026-11-29T22:00 (rotated copies are read too).",
)
@pass_ctx
def logs_command(ctx: Context, service: str | None, follow: bool, since: str | None) -> None:
    """Print the logs of SERVICE (one of the stack's daemons), or of all of them merged in time
    order, each line after its service's name. Ctrl-C ends --follow."""
    names = stack.service_names(ctx.settings)
    if service is not None and service not in names:
        raise ValidationError(
            "service", f"unknown service {service!r} (choose from: {', '.join(names)})"
        )
    chosen = [service] if service else names
    start = logs.parse_since(since) if since is not None else None
    directory = Layout(ctx.settings.state_dir).log

    def show(line: logs.LogLine) -> None:
        click.echo(line.text if service else f"{line.service}: {line.text}")

    try:
        for line in logs.read(directory, chosen, start):
            show(line)
        if follow:
            for line in logs.follow(directory, chosen):
                show(line)
    except KeyboardInterrupt:
        return  # Ctrl-C is how --follow ends: not an error
    except BrokenPipeError:
        # The reader left (`alumail logs | head`): stop quietly, and keep Python's final flush
        # of stdout from complaining about the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
