"""``alumail dns`` (the records to publish, and checking what resolvers return) and ``alumail
dkim`` (the signing key: show, rotate, retire)."""

from __future__ import annotations

import click

from mailstack.publish import dnsrecords
from provisioning.cli.base import ADMINS, Context, allow, authorize, emit_json, main, pass_ctx, say
from provisioning.errors import VerificationError
from provisioning.operations import dns


def expected_records(ctx: Context) -> list[dnsrecords.Record]:
    return dns.expected_records(ctx.settings, ctx.root.signing_keys())


@allow(ADMINS)
@main.group("dns", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="The records as JSON.")
@click.option("--zone", "as_zone", is_flag=True, help="The records as a zone file fragment.")
@click.pass_context
def dns_group(click_ctx: click.Context, as_json: bool, as_zone: bool) -> None:
    """Print every DNS record to publish for the domain (MX, A/AAAA, SRV, autoconfig and
    autodiscover names, SPF, DKIM, DMARC, MTA-STS, TLS-RPT)."""
    if click_ctx.invoked_subcommand is not None:
        return  # the subcommand checks its own actor
    authorize(click_ctx)
    ctx: Context = click_ctx.obj
    settings = ctx.settings
    records = expected_records(ctx)
    if as_json:
        emit_json([r.as_dict() for r in records])
    elif as_zone:
        click.echo(dnsrecords.zone(records, settings.domain), nl=False)
    else:
        for record in records:
            click.echo(record.zone_line())
        if not any(r.type in ("A", "AAAA") for r in records):
            say("alumail: no address for the mail host: set dns.ipv4 / dns.ipv6")
        if not any("_domainkey" in r.name for r in records):
            say("alumail: no DKIM key yet: `alumail up` makes one")


@allow(ADMINS)
@dns_group.command("check")
@click.option(
    "--nameserver",
    default=None,
    help="Ask this server (an address) instead of the system's resolvers.",
)
@click.option("--port", default=53, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def dns_check(ctx: Context, nameserver: str | None, port: int, as_json: bool) -> None:
    """Compare what DNS returns with what should be published. Exit 1 when anything differs."""
    records = expected_records(ctx)
    _checked, differences = dns.check(records, dnsrecords.resolver_lookup(nameserver, port))
    if as_json:
        emit_json({"checked": len(records), "differences": [d.as_dict() for d in differences]})
    else:
        for d in differences:
            found = ", ".join(d.found) or "nothing"
            click.echo(
                f"{d.problem}: {d.record.name} {d.record.type} {d.record.value} (found: {found})"
            )
        say(f"alumail: {len(records)} records checked, {len(differences)} differ")
    if differences:
        raise VerificationError(
            f"{len(differences)} DNS records differ from what should be published"
        )


@main.group("dkim")
def dkim_group() -> None:
    """The DKIM signing key."""


@allow(ADMINS)
@dkim_group.command("show")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def dkim_show(ctx: Context, as_json: bool) -> None:
    """The key in use and every key on disk, with the record to publish."""
    keys = ctx.root.signing_keys()
    current = keys.in_use()
    data = {
        "selector": current.selector if current else None,
        "record_name": f"{current.selector}._domainkey.{ctx.settings.domain}" if current else None,
        "record": current.record() if current else None,
        "keys": keys.on_disk(),
    }
    if as_json:
        emit_json(data)
    else:
        for name, value in data.items():
            click.echo(f"{name}: {value}")


@allow(ADMINS, changes=True)
@dkim_group.command("rotate")
@click.option("--selector", default=None, help="Name of the new key (default: k<date>).")
@pass_ctx
def dkim_rotate(ctx: Context, selector: str | None) -> None:
    """Make a new key, sign with it from now on, keep the old one until `dkim retire`."""
    from provisioning import stack

    key = ctx.root.signing_keys().rotate(ctx.actor, selector, apply=lambda: stack.up(ctx.settings))
    say(f"alumail: signing with {key.selector}; publish:")
    click.echo(f'{key.selector}._domainkey.{ctx.settings.domain}. IN TXT "{key.record()}"')


@allow(ADMINS, changes=True)
@dkim_group.command("retire")
@click.argument("selector")
@pass_ctx
def dkim_retire(ctx: Context, selector: str) -> None:
    """Remove an old key (not the one in use); unpublish its record afterwards."""
    ctx.root.signing_keys().retire(ctx.actor, selector)
    say(f"alumail: key {selector} removed; remove {selector}._domainkey from DNS")
