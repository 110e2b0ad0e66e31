"""``alumail oidc``: the OpenID Connect provider's clients and signing keys (admins only)."""

from __future__ import annotations

import datetime

import click

from provisioning.cli.base import (
    ADMINS,
    Context,
    allow,
    emit_json,
    main,
    pass_ctx,
    print_mapping,
    say,
)
from provisioning.oidc.clients import rotate_keys
from provisioning.oidc.keys import ALGORITHMS
from provisioning.oidc.rules import SCOPES
from provisioning.oidc.storage import Client


@main.group("oidc")
def oidc_group() -> None:
    """The OpenID Connect provider: the applications that sign alumni in, and its keys."""


@oidc_group.group("client")
def client_group() -> None:
    """Applications (relying parties) registered with the provider."""


def _when(stamp: float | None) -> str:
    if stamp is None:
        return ""
    return datetime.datetime.fromtimestamp(stamp, datetime.UTC).isoformat(timespec="seconds")


def _shown(client: Client) -> dict[str, object]:
    data = client.as_dict()
    data["created"] = _when(client.created)
    return data


@allow(ADMINS, changes=True)
@client_group.command("add")
@click.argument("name")
@click.option(
    "--redirect-uri",
    "redirect_uris",
    multiple=True,
    required=True,
    help="Where codes are sent (exact match; https, or http on loopback). Repeatable.",
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(SCOPES),
    help="A scope the client may ask for (openid always). Repeatable.",
)
@click.option("--public", is_flag=True, help="No secret (an app on a device): PKCE required.")
@click.option("--trusted", is_flag=True, help="First-party: signs in without a consent page.")
@click.option(
    "--post-logout-uri",
    "post_logout_uris",
    multiple=True,
    help="Where the client may send people after logout. Repeatable.",
)
@click.option(
    "--id-token-alg", type=click.Choice(ALGORITHMS), default=ALGORITHMS[0], show_default=True
)
@click.option(
    "--backchannel-logout-uri",
    help="Where the client is told (a signed logout token) that a person's session ended.",
)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def client_add(
    ctx: Context,
    name: str,
    redirect_uris: tuple[str, ...],
    scopes: tuple[str, ...],
    public: bool,
    trusted: bool,
    post_logout_uris: tuple[str, ...],
    id_token_alg: str,
    backchannel_logout_uri: str | None,
    as_json: bool,
) -> None:
    """Register client NAME; prints its client_id and (confidential clients) its secret,
    which is shown this once only."""
    added = ctx.root.oidc_clients(ctx.actor).add(
        name,
        redirect_uris,
        scopes=scopes,
        public=public,
        trusted=trusted,
        post_logout_uris=post_logout_uris,
        id_token_alg=id_token_alg,
        backchannel_logout_uri=backchannel_logout_uri,
    )
    if as_json:
        emit_json({**_shown(added.client), "client_secret": added.secret})
        return
    say(
        f"alumail: client '{name}' registered"
        + ("; its secret is shown once" if added.secret else "")
    )
    click.echo(f"client_id: {added.client.client_id}")
    if added.secret:
        click.echo(f"client_secret: {added.secret}")


@allow(ADMINS)
@client_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def client_list(ctx: Context, as_json: bool) -> None:
    """Every registered client (never a secret)."""
    clients = ctx.root.oidc_clients(ctx.actor).listing()
    if as_json:
        emit_json([_shown(c) for c in clients])
        return
    for c in clients:
        kind = "public" if c.public else "confidential"
        trusted = " trusted" if c.trusted else ""
        click.echo(f"{c.client_id}  {kind}{trusted}  {' '.join(c.scopes)}  {c.name}")


@allow(ADMINS)
@client_group.command("show")
@click.argument("client_id")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def client_show(ctx: Context, client_id: str, as_json: bool) -> None:
    """One client's registration."""
    shown = _shown(ctx.root.oidc_clients(ctx.actor).get(client_id))
    if as_json:
        emit_json(shown)
    else:
        print_mapping(shown)


@allow(ADMINS, changes=True)
@client_group.command("remove")
@click.argument("client_id")
@pass_ctx
def client_remove(ctx: Context, client_id: str) -> None:
    """Remove a client: its tokens stop and its consents go."""
    ctx.root.oidc_clients(ctx.actor).remove(client_id)
    say(f"alumail: client {client_id} removed")


@allow(ADMINS, changes=True)
@client_group.command("rotate-secret")
@click.argument("client_id")
@pass_ctx
def client_rotate_secret(ctx: Context, client_id: str) -> None:
    """A new secret for a confidential client (the old one stops at once); printed once."""
    secret = ctx.root.oidc_clients(ctx.actor).rotate_secret(client_id)
    say(f"alumail: client {client_id} has a new secret; it is shown once")
    click.echo(f"client_secret: {secret}")


@oidc_group.group("keys")
def keys_group() -> None:
    """The provider's ID-token signing keys."""


@allow(ADMINS)
@keys_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def keys_list(ctx: Context, as_json: bool) -> None:
    """The signing keys: current ones, and retired ones still published."""
    keys = [k.as_dict() for k in ctx.root.oidc_keys.all()]
    if as_json:
        emit_json(keys)
        return
    for k in keys:
        state = f"retired {_when(k['retired'])}" if k["retired"] else "current"
        click.echo(f"{k['kid']}  {k['alg']}  {state}")


@allow(ADMINS, changes=True)
@keys_group.command("rotate")
@pass_ctx
def keys_rotate(ctx: Context) -> None:
    """New signing keys; the current ones stay published until the tokens they signed have
    expired, and are dropped at a later rotation."""
    added, dropped = rotate_keys(
        ctx.root.oidc_keys, ctx.root.audit, ctx.actor, ctx.settings.public_url
    )
    for key in added:
        say(f"alumail: new {key.alg} signing key {key.kid}")
    for key in dropped:
        say(f"alumail: retired key {key.kid} dropped from the JWKS")
