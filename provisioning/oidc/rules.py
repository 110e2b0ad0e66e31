"""What a client registration and an authorization request must follow: redirect URIs
(absolute https, or http on a loopback host; no fragment; compared exactly at use), the scopes
this provider offers, and which claims each scope releases."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from identity.errors import ValidationError
from provisioning.i18n import N_

# The scopes offered now, each with the claims it releases (``openid``: the subject only).
# ``mail`` releases no claim: it is access to the person's own mailbox (IMAP, POP3, submission),
# which Dovecot checks by introspecting the token (``scope = mail`` in its oauth2 passdb).
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "openid": ("sub",),
    "profile": ("name", "given_name", "family_name", "preferred_username"),
    "email": ("email", "email_verified"),
    "alumni": ("graduation_year",),
    # The names of the circles the person is in (hidden ones too: it is their own membership).
    "groups": ("groups",),
    "mail": (),
}
SCOPES = tuple(SCOPE_CLAIMS)
MAX_URI_CHARS = 2000
MAX_NAME_CHARS = 64

# Lifetimes, in seconds (an access token's is the setting web.access_token_ttl, 10 minutes by
# default). Access and ID tokens are short: a suspension or password change ends a client's
# access at the latest when its current access token expires.
CODE_TTL = 120
ID_TOKEN_TTL = 600
REFRESH_TOKEN_TTL = 30 * 24 * 3600


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_redirect_uri(value: str, *, field: str = "redirect-uri") -> str:
    """A redirect URI a client may register: absolute https, or http on a loopback host, no
    fragment, no user information, no control characters or spaces."""
    if not value or len(value) > MAX_URI_CHARS:
        raise ValidationError(
            field, N_("must be a URI of 1 to {n} characters").format(n=MAX_URI_CHARS)
        )
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in value):
        raise ValidationError(field, N_("must not contain spaces or control characters"))
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError as exc:
        raise ValidationError(
            field, N_("'{value}' is not a valid URI").format(value=value)
        ) from exc
    if parts.scheme not in ("https", "http") or not host:
        raise ValidationError(
            field, N_("must be an absolute https:// URI (http:// on loopback only)")
        )
    if parts.scheme == "http" and not _loopback(host):
        raise ValidationError(field, N_("http:// is allowed on a loopback host only; use https://"))
    if "#" in value:
        raise ValidationError(field, N_("must not contain a fragment (#...)"))
    if "@" in parts.netloc:
        raise ValidationError(field, N_("must not contain user information (user@host)"))
    return value


def check_scopes(values: Iterable[str], *, field: str = "scope") -> list[str]:
    """Scopes a client may be registered for: known ones, ``openid`` always among them."""
    wanted: list[str] = []
    for value in values:
        for scope in value.split():
            if scope not in SCOPE_CLAIMS:
                raise ValidationError(
                    field, f"'{scope}' is not a scope offered (one of {', '.join(SCOPES)})"
                )
            if scope not in wanted:
                wanted.append(scope)
    if "openid" not in wanted:
        wanted.insert(0, "openid")
    return wanted


def check_client_name(value: str, *, field: str = "name") -> str:
    name = value.strip()
    if not name or len(name) > MAX_NAME_CHARS:
        raise ValidationError(field, N_("must be 1 to {n} characters").format(n=MAX_NAME_CHARS))
    if any(not c.isprintable() for c in name):
        raise ValidationError(field, N_("must not contain control characters"))
    return name


def allowed_scopes(requested: str | None, registered: Iterable[str]) -> list[str]:
    """The requested scopes the client was registered for, in the order asked (nothing else:
    a client gets only its own scopes, whatever it asks)."""
    allowed = set(registered)
    granted: list[str] = []
    for scope in (requested or "").split():
        if scope in allowed and scope not in granted:
            granted.append(scope)
    return granted


def claims_for(scopes: Iterable[str], person: Mapping[str, object]) -> dict[str, object]:
    """The claims ``scopes`` release of ``person`` (claim name -> value; absent values left
    out). ``sub`` is always released."""
    released: dict[str, object] = {"sub": person["sub"]}
    for scope in scopes:
        for claim in SCOPE_CLAIMS.get(scope, ()):
            value = person.get(claim)
            if value not in (None, ""):
                released[claim] = value
    return released
