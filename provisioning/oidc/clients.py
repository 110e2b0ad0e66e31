"""The clients admins register with the provider: add (a client_id, and for a confidential
client a secret shown once and kept as a digest), list, show, remove, rotate the secret. Every
change is audited: the intent before, the outcome after."""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace

from identity.errors import NotFoundError, ValidationError
from identity.roles import ROOT, Actor, Role
from mailstack.context import INTROSPECTION_CLIENT, WEBMAIL_CLIENT
from mailstack.settings import Settings
from provisioning.audit import AuditLog
from provisioning.i18n import N_
from provisioning.oidc import rules
from provisioning.oidc.keys import ALGORITHMS, SigningKeys, StoredKey
from provisioning.oidc.storage import Client, OidcStore
from provisioning.people.lookups import require
from provisioning.store import Store, digest, new_secret


@dataclass(frozen=True)
class Registered:
    client: Client
    secret: str | None  # shown once; None for a public client


def secret_matches(client: Client, secret: str) -> bool:
    if client.public or client.secret_digest is None or not secret:
        return False
    return hmac.compare_digest(client.secret_digest, digest(secret))


ADMIN_ROLES = frozenset({Role.SYSTEM, Role.ADMIN})


class Clients:
    """The registry as ``actor`` sees it: admins (and the host's root) only, whatever the face
    (the command line checks first; a later REST API relies on this)."""

    def __init__(self, store: Store, audit: AuditLog, actor: Actor) -> None:
        self.actor = actor
        self.store = OidcStore(store)
        self.audit = audit

    def _admin(self) -> None:
        if self.actor.role not in ADMIN_ROLES:
            require(self.actor, False, N_("manage OpenID Connect clients"))

    def add(
        self,
        name: str,
        redirect_uris: Iterable[str],
        *,
        scopes: Iterable[str] = (),
        public: bool = False,
        trusted: bool = False,
        post_logout_uris: Iterable[str] = (),
        id_token_alg: str = ALGORITHMS[0],
        backchannel_logout_uri: str | None = None,
    ) -> Registered:
        name = rules.check_client_name(name)
        uris = [rules.check_redirect_uri(u) for u in redirect_uris]
        if not uris:
            raise ValidationError("redirect-uri", N_("give at least one redirect URI"))
        logout = [rules.check_redirect_uri(u, field="post-logout-uri") for u in post_logout_uris]
        backchannel = (
            None
            if backchannel_logout_uri is None
            else rules.check_redirect_uri(backchannel_logout_uri, field="backchannel-logout-uri")
        )
        granted = rules.check_scopes(scopes or ["openid"])
        if id_token_alg not in ALGORITHMS:
            raise ValidationError("id-token-alg", f"must be one of {', '.join(ALGORITHMS)}")
        secret = None if public else new_secret()
        client = Client(
            client_id=secrets.token_urlsafe(18),
            name=name,
            secret_digest=digest(secret) if secret else None,
            redirect_uris=tuple(dict.fromkeys(uris)),
            scopes=tuple(granted),
            public=public,
            trusted=trusted,
            post_logout_uris=tuple(dict.fromkeys(logout)),
            id_token_alg=id_token_alg,
            created=time.time(),
            backchannel_logout_uri=backchannel,
        )
        with self.audit.action(self.actor, "oidc-client-add", name) as done:
            self._admin()
            self.store.add_client(client)
            shown = client.as_dict()
            done.changes = {k: shown[k] for k in ("client_id", "type", "trusted", "scopes")}
        return Registered(client, secret)

    def listing(self) -> list[Client]:
        self._admin()
        return self.store.clients()

    def get(self, client_id: str) -> Client:
        self._admin()
        found = self.store.client(client_id)
        if found is None:
            raise NotFoundError(f"no client '{client_id}' is registered")
        return found

    def remove(self, client_id: str) -> None:
        """The client goes, and with it every token and consent it held."""
        with self.audit.action(self.actor, "oidc-client-remove", client_id):
            self.get(client_id)
            _not_stack_client(client_id)
            self.store.remove_client(client_id)

    def rotate_secret(self, client_id: str) -> str:
        """A new secret for a confidential client (the old one stops at once)."""
        secret = new_secret()
        with self.audit.action(self.actor, "oidc-client-rotate-secret", client_id) as done:
            if self.get(client_id).public:
                raise ValidationError("client_id", f"'{client_id}' is a public client: no secret")
            _not_stack_client(client_id)
            self.store.set_secret(client_id, digest(secret))
            done.changes = {"secret": "changed"}
        return secret


STACK_CLIENTS = frozenset({INTROSPECTION_CLIENT, WEBMAIL_CLIENT})


def _not_stack_client(client_id: str) -> None:
    if client_id in STACK_CLIENTS:
        raise ValidationError(
            "client_id", f"'{client_id}' is the stack's own, kept by `alumail up`: not changed here"
        )


def stack_clients(
    settings: Settings, introspection_secret: str, webmail_secret: str
) -> list[tuple[Client, str]]:
    """The stack's own clients, each with its secret (made by bring-up under secrets/, root's,
    0600, and rendered into the one daemon that presents it):

    - Dovecot as a resource server (``INTROSPECTION_CLIENT``): no redirect URI, so it can never
      take part in a sign-in; it can only introspect.
    - Roundcube (``WEBMAIL_CLIENT``): trusted (no consent page: it is ours), confidential,
      scope ``mail`` to open the person's mailbox with the token; it returns only to the
      webmail's own address (``web.webmail_url``)."""
    webmail = settings.webmail_url
    return [
        (
            _stack_client(
                INTROSPECTION_CLIENT, "Dovecot (token introspection)", (), ("openid", "mail"), ()
            ),
            introspection_secret,
        ),
        (
            _stack_client(
                WEBMAIL_CLIENT,
                "Webmail (Roundcube)",
                (f"{webmail}/index.php/login/oauth",),
                ("openid", "profile", "email", "mail"),
                (f"{webmail}/",),
            ),
            webmail_secret,
        ),
    ]


def _stack_client(
    client_id: str,
    name: str,
    redirect_uris: tuple[str, ...],
    scopes: tuple[str, ...],
    post_logout_uris: tuple[str, ...],
) -> Client:
    return Client(
        client_id=client_id,
        name=name,
        secret_digest=None,  # set from its secret by register_stack_clients
        redirect_uris=redirect_uris,
        scopes=scopes,
        public=False,
        trusted=True,
        post_logout_uris=post_logout_uris,
        id_token_alg=ALGORITHMS[0],
        created=0.0,
    )


def register_stack_clients(
    store: Store, audit: AuditLog, wanted: list[tuple[Client, str]]
) -> list[str]:
    """Each of the stack's own clients made, or brought back in line with its secret and the
    settings, at each bring-up (audited then); left alone when it already is. The client_ids
    that changed."""
    oidc = OidcStore(store)
    changed = []
    for client, secret in wanted:
        found = oidc.client(client.client_id)
        if found is not None and _same(found, client) and secret_matches(found, secret):
            continue
        with audit.action(ROOT, "oidc-client-add", client.client_id) as done:
            if found is not None:
                oidc.remove_client(client.client_id)
            oidc.add_client(replace(client, secret_digest=digest(secret), created=time.time()))
            done.changes = {
                "client_id": client.client_id,
                "type": "confidential",
                "redirect_uris": list(client.redirect_uris),
                "secret": "changed",
            }
        changed.append(client.client_id)
    return changed


def _same(found: Client, wanted: Client) -> bool:
    return replace(found, secret_digest=None, created=0.0) == replace(
        wanted, secret_digest=None, created=0.0
    )


def rotate_keys(
    keys: SigningKeys, audit: AuditLog, actor: Actor, issuer: str
) -> tuple[list[StoredKey], list[StoredKey]]:
    """New signing keys (admins and the host's root only, audited): the current ones stay
    published until the tokens they signed have expired, and are dropped at a later rotation."""
    with audit.action(actor, "oidc-keys-rotate", issuer) as done:
        if actor.role not in ADMIN_ROLES:
            require(actor, False, N_("rotate the OpenID Connect signing keys"))
        added, dropped = keys.rotate()
        done.changes = {"added": [k.kid for k in added], "dropped": [k.kid for k in dropped]}
    return added, dropped
