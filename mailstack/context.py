"""Everything rendering needs, gathered once: settings, paths, key material (prepared before,
:mod:`mailstack.keys.material`), service secrets and the mail user's ids. Rendering itself stays
pure: the same context gives the same files."""

from __future__ import annotations

import pwd
import secrets
from dataclasses import dataclass, replace
from pathlib import Path

from identity.dit import Tree
from identity.errors import ConfigError
from identity.seeding import SERVICE_ACCOUNTS
from mailstack.files import ensure_dir, write_atomic
from mailstack.keys.dkim import DkimMaterial
from mailstack.keys.material import KeyMaterial, read_keys
from mailstack.keys.tls import TlsFiles
from mailstack.layout import Layout
from mailstack.privileges import service_user
from mailstack.settings import Settings, url_host

MAIL_USER = "vmail"
# The confidential client Dovecot introspects tokens as; the web service registers it at
# bring-up with the digest of ``secrets/dovecot.oidc-secret`` (provisioning.oidc.clients).
INTROSPECTION_CLIENT = "alumail-dovecot"
# Roundcube signing people in through the provider (a trusted, confidential client).
WEBMAIL_CLIENT = "alumail-webmail"


@dataclass(frozen=True)
class RenderContext:
    settings: Settings
    layout: Layout
    tree: Tree
    tls: TlsFiles
    dkim: DkimMaterial
    service_passwords: dict[str, str]
    vmail_uid: int
    vmail_gid: int
    # The unprivileged user of the web service and the sink (mailstack.privileges).
    service_uid: int
    service_gid: int
    # The secret Dovecot presents to the web service's introspection endpoint as the OpenID
    # Connect client ``INTROSPECTION_CLIENT`` (empty in a control context: nothing renders).
    introspection_secret: str = ""
    # Roundcube's client secret as the OpenID Connect client ``WEBMAIL_CLIENT`` (empty likewise).
    webmail_secret: str = ""

    def __repr__(self) -> str:  # keeps secrets out of tracebacks and logs
        return f"RenderContext(state_dir={self.layout.root})"

    @property
    def ldap_uri(self) -> str:
        """How the mail daemons reach slapd: TCP on the listen address, the same URI a remote
        replica would be given when the directory moves to its own hosts."""
        return f"ldap://{url_host(self.settings.connect_host)}:{self.settings.ports.ldap}"


def mail_user_ids() -> tuple[int, int]:
    try:
        entry = pwd.getpwnam(MAIL_USER)
    except KeyError as exc:
        raise ConfigError(
            f"system user '{MAIL_USER}' is missing: run `make install` (as root) to create it"
        ) from exc
    return entry.pw_uid, entry.pw_gid


def service_password(layout: Layout, name: str, *, create: bool = True) -> str:
    """The bind secret of service account ``name``, kept in a 0600 file under secrets/."""
    return _secret(layout.secrets / f"{name}.ldap-secret", create=create)


def introspection_secret(layout: Layout, *, create: bool = True) -> str:
    """Dovecot's client secret at the provider's introspection endpoint (0600, root's)."""
    return _secret(layout.secrets / "dovecot.oidc-secret", create=create)


def webmail_secret(layout: Layout, *, create: bool = True) -> str:
    """Roundcube's client secret at the provider's token endpoint (0600, root's; rendered into
    Roundcube's configuration, which only root and www-data read)."""
    return _secret(layout.secrets / "webmail.oidc-secret", create=create)


def _secret(path: Path, *, create: bool) -> str:
    if path.is_file():
        return path.read_text().strip()
    if not create:
        raise ConfigError(f"secret {path} is missing: run `alumail up` first")
    ensure_dir(path.parent, 0o700)
    value = secrets.token_urlsafe(32)
    write_atomic(path, value + "\n", mode=0o600)
    return value


def build_context(
    settings: Settings, keys: KeyMaterial, *, create_secrets: bool = True
) -> RenderContext:
    """What bring-up renders from: ``keys`` as :func:`~mailstack.keys.material.prepare_keys`
    made them (or, for a dry run, :func:`~mailstack.keys.material.read_keys` found them), the
    service secrets read (or made, unless ``create_secrets`` is false)."""
    layout = Layout(settings.state_dir)
    passwords = {
        name: service_password(layout, name, create=create_secrets) for name in SERVICE_ACCOUNTS
    }
    ctx = _context(settings, keys, passwords)
    return replace(
        ctx,
        introspection_secret=introspection_secret(layout, create=create_secrets),
        webmail_secret=webmail_secret(layout, create=create_secrets),
    )


def control_context(settings: Settings) -> RenderContext:
    """For daemons that are only asked for their pid, stopped, or asked whether they answer
    (``down``, ``status``, the offline tools): paths, ports and users. Neither a service
    secret nor a DKIM key is read, so nothing may be rendered from it."""
    return _context(settings, read_keys(settings, dkim=False), {})


def _context(
    settings: Settings, keys: KeyMaterial, service_passwords: dict[str, str]
) -> RenderContext:
    uid, gid = mail_user_ids()
    service = service_user()
    return RenderContext(
        settings=settings,
        layout=Layout(settings.state_dir),
        tree=Tree(settings.base_dn),
        tls=keys.tls,
        dkim=keys.dkim,
        service_passwords=service_passwords,
        vmail_uid=uid,
        vmail_gid=gid,
        service_uid=service.uid,
        service_gid=service.gid,
    )
