"""php-fpm running Roundcube (Debian's roundcube-core) for the webmail: a private master under
the state directory whose one pool runs as ``www-data``; nginx (:mod:`mailstack.daemons.nginx`)
passes it requests through a socket only ``www-data`` may use.

Roundcube runs as ``www-data``, not as the stack's service user: ``alumail`` may use Dovecot's
doveadm server and auth-master sockets (any mailbox, no password), which a web mail client must
never reach. As ``www-data`` it can do what any mail client can (IMAP and submission with the
person's own password) and read and write only its own folder, ``webmail/`` (0700): its SQLite
database, temp files and logs, and its DES key (0600), made once and never rendered."""

from __future__ import annotations

import os
import pwd
import secrets
import signal
from pathlib import Path

from identity.errors import ConfigError
from mailstack.context import WEBMAIL_CLIENT, RenderContext
from mailstack.daemon import Endpoint
from mailstack.daemons.signalled import SignalledDaemon
from mailstack.files import FileSpec, ensure_dir
from mailstack.process import run, start_daemon, titled
from mailstack.settings import url_host
from mailstack.templates import package_file, render_template

CONFIG = "etc/php-fpm/php-fpm.conf"
ROUNDCUBE_CONFIG = "etc/roundcube/config.inc.php"
# Runs before Roundcube: its plugins come from our folder (Debian's linked in, and ours).
PREPEND = "etc/roundcube/prepend.php"
PLUGINS = "etc/roundcube/plugins"
OUR_PLUGINS = ("alumail_sso",)
PROGRAM = "php-fpm8.2"
WEBMAIL_USER = "www-data"
# Debian's Roundcube: the code, the web root nginx serves, and the package's own configuration
# files our folder links to (its plugins are found below /var/lib/roundcube, fixed by Debian).
ROUNDCUBE_HOME = Path("/var/lib/roundcube")
ROUNDCUBE_CODE = Path("/usr/share/roundcube")
PACKAGE_CONFIG = Path("/etc/roundcube")
LINKED = ("defaults.inc.php", "mimetypes.php")
# The plugins Roundcube always loads, linked into our plugin folder from the package's.
PACKAGE_PLUGINS = ROUNDCUBE_CODE / "plugins"
LINKED_PLUGINS = ("filesystem_attachments", "jqueryui")
# Read only, all of it the packages': the shared PHP libraries Roundcube uses (PEAR's
# Mail_mime, Net_SMTP, Guzzle, ...), the JavaScript and CSS Debian links into its web root
# (Roundcube dates their URLs), and the plugins' configuration files its plugins link to.
LIBRARIES = (
    Path("/usr/share/php"),
    Path("/usr/share/javascript"),
    Path("/usr/share/nodejs"),
    PACKAGE_CONFIG / "plugins",
)
DES_KEY_LENGTH = 24  # what Roundcube's 3DES key must be
MAX_CHILDREN = 10
MIB = 1024**2
PRODUCT_NAME = "Alumni Webmail"
PROVIDER_NAME = "jAccount"


def php_literal(value: str | int | bool | dict[str, str | bool]) -> str:
    """A PHP literal for ``value``: a string single-quoted with its quotes and backslashes
    escaped, so no setting can end the string and write PHP."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        items = ", ".join(f"{php_literal(k)} => {php_literal(v)}" for k, v in value.items())
        return f"[{items}]"
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class PhpFpm(SignalledDaemon):
    name = "php-fpm"
    reload_signal = signal.SIGUSR2  # rereads its configuration, replaces its pool gracefully
    stop_timeout = 15

    def __init__(self, ctx: RenderContext) -> None:
        self.ctx = ctx
        self.layout = ctx.layout
        self.config = self.layout.root / CONFIG
        self.run_dir = self.layout.php_fpm_run
        self.pidfile = self.run_dir / "php-fpm.pid"
        self.socket = self.run_dir / "webmail.sock"
        self.logfile = self.layout.logfile(self.name)

    def render(self) -> list[FileSpec]:
        limit = self.ctx.settings.message_size_limit
        pool = render_template(
            "php-fpm/php-fpm.conf.j2",
            pidfile=self.pidfile,
            log_path=self.logfile,
            user=WEBMAIL_USER,
            group=WEBMAIL_USER,
            socket=self.socket,
            max_children=MAX_CHILDREN,
            config_dir=self.layout.roundcube_etc,
            temp_dir=self.layout.webmail_temp,
            webmail_log=self.layout.webmail_log,
            open_basedir=self.open_basedir(),
            upload_max=limit,
            post_max=post_max(limit),
            # Roundcube holds a message several times over while it encodes and sends it.
            memory_limit=128 * MIB + 4 * limit,
            prepend=self.layout.root / PREPEND,
        )
        prepend = (
            "<?php\n// Rendered by alumail (mailstack/daemons/php_fpm.py): Roundcube's plugins"
            " come from our folder.\n"
            f"define('RCUBE_PLUGINS_DIR', {php_literal(str(self.layout.root / PLUGINS) + '/')});\n"
        )
        return [
            FileSpec(CONFIG, pool),
            FileSpec(ROUNDCUBE_CONFIG, self._roundcube(), 0o640, "root", WEBMAIL_USER),
            FileSpec(PREPEND, prepend),
            *(
                FileSpec(f"{PLUGINS}/{name}/{name}.php", plugin_source(name))
                for name in OUR_PLUGINS
            ),
        ]

    def open_basedir(self) -> list[str]:
        """Where Roundcube's PHP may open files: its code, our configuration and its state."""
        paths = [
            f"{ROUNDCUBE_HOME}/",
            f"{ROUNDCUBE_CODE}/",
            *(str(PACKAGE_CONFIG / name) for name in LINKED),
            *(f"{path}/" for path in LIBRARIES),
            f"{self.layout.roundcube_etc}/",
            f"{self.layout.webmail}/",
        ]
        if self.ctx.tls.ca_cert is not None:
            paths.append(str(self.ctx.tls.ca_cert))
        return paths

    def _roundcube(self) -> str:
        s = self.ctx.settings
        tls: dict[str, str | bool] = {
            "verify_peer": True,
            "verify_peer_name": True,
            "peer_name": s.mail_host,
        }
        if self.ctx.tls.ca_cert is not None:
            tls["cafile"] = str(self.ctx.tls.ca_cert)
        host = url_host(s.connect_host)
        # Roundcube checks the provider's certificate as it checks the mail servers'.
        oauth_ca = self.ctx.tls.ca_cert if s.web.tls else None
        return render_template(
            "roundcube/config.inc.php.j2",
            provider_name=PROVIDER_NAME,
            provider_name_literal=php_literal(PROVIDER_NAME),
            webmail_url=s.webmail_url,
            webmail_url_literal=php_literal(s.webmail_url),
            client_id=WEBMAIL_CLIENT,
            client_id_literal=php_literal(WEBMAIL_CLIENT),
            client_secret=php_literal(self.ctx.webmail_secret),
            auth_uri=php_literal(f"{s.public_url}/oidc/authorize"),
            token_uri=php_literal(f"{s.service_url}/oidc/token"),
            identity_uri=php_literal(f"{s.service_url}/oidc/userinfo"),
            introspection_uri=php_literal(f"{s.service_url}/oidc/introspect"),
            logout_uri=php_literal(f"{s.public_url}/oidc/logout"),
            oauth_ca=oauth_ca,
            verify_peer=php_literal(str(oauth_ca) if oauth_ca else True),
            domain=s.domain,
            domain_literal=php_literal(s.domain),
            mail_host=s.mail_host,
            ca_cert=self.ctx.tls.ca_cert,
            db_dsnw=php_literal(f"sqlite:///{self.layout.webmail_db}?mode=0600"),
            temp_dir=php_literal(f"{self.layout.webmail_temp}/"),
            log_dir=php_literal(f"{self.layout.webmail_log}/"),
            des_key=php_literal(str(self.layout.webmail_key)),
            imap_host=php_literal(f"ssl://{host}:{s.ports.imaps}"),
            smtp_host=php_literal(f"tls://{host}:{s.ports.submission}"),
            tls_options=php_literal(tls),
            product_name=php_literal(PRODUCT_NAME),
            support_url=php_literal(s.public_url),
            max_message_size=php_literal(s.message_size_limit),
        )

    def prepare(self) -> None:
        ensure_dir(self.layout.run, 0o755)
        ensure_dir(self.run_dir, 0o755)
        ensure_dir(self.layout.log, 0o755)
        ensure_dir(self.layout.etc, 0o755)
        ensure_dir(self.layout.roundcube_etc, 0o755)
        ensure_dir(self.layout.root / PLUGINS, 0o755)
        for link, target in (
            *((self.layout.roundcube_etc / n, PACKAGE_CONFIG / n) for n in LINKED),
            *((self.layout.root / PLUGINS / n, PACKAGE_PLUGINS / n) for n in LINKED_PLUGINS),
        ):
            if not link.is_symlink() or Path(os.readlink(link)) != target:
                link.unlink(missing_ok=True)
                link.symlink_to(target)
        for folder in (
            self.layout.webmail,
            self.layout.webmail_temp,
            self.layout.webmail_log,
        ):
            ensure_dir(folder, 0o700, WEBMAIL_USER, WEBMAIL_USER)
        self._ensure_des_key()

    def _ensure_des_key(self) -> None:
        path = self.layout.webmail_key
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                # Printable, exactly the length 3DES needs, no newline (Roundcube reads it whole).
                handle.write(secrets.token_urlsafe(DES_KEY_LENGTH)[:DES_KEY_LENGTH])
        user = pwd.getpwnam(WEBMAIL_USER)
        os.chown(path, user.pw_uid, user.pw_gid)
        os.chmod(path, 0o600)

    def check(self, staging: Path) -> None:
        run(
            [PROGRAM, "-t", "-y", str(staging / CONFIG)],
            error=ConfigError,
            what="php-fpm -t on the rendered php-fpm configuration",
        )
        for relpath in (
            ROUNDCUBE_CONFIG,
            PREPEND,
            *(f"{PLUGINS}/{n}/{n}.php" for n in OUR_PLUGINS),
        ):
            run(
                ["php", "-l", str(staging / relpath)],
                error=ConfigError,
                what=f"php -l on the rendered {relpath}",
            )

    def orphans(self) -> list[int]:
        # The master's title names the configuration ("php-fpm: master process (PATH)"); its
        # pool's processes die with it.
        return [
            pid for pid in titled("php-fpm: master process", str(self.config)) if pid != self.pid()
        ]

    def start(self) -> None:
        start_daemon(
            [PROGRAM, "-y", str(self.config)],
            self.logfile,
            what="starting php-fpm",
            running=lambda: self.pid() is not None,
        )

    def reloads_for(self, changed: list[FileSpec]) -> bool:
        # Only the pool's own file: Roundcube reads its configuration on every request.
        return any(spec.relpath == CONFIG for spec in changed)

    def ready(self) -> bool:
        return self.pid() is not None and self.socket.exists()

    def endpoints(self) -> list[Endpoint]:
        return []  # nginx is the webmail's listener


def plugin_source(name: str) -> str:
    """Our Roundcube plugin ``name`` as shipped (configs/roundcube/plugins/): installed as it
    is; what it needs to know comes from Roundcube's configuration."""
    return package_file(f"roundcube/plugins/{name}/{name}.php")


def post_max(limit: int) -> int:
    """The largest request: an attachment as large as a message may be, and the form around it."""
    return limit + MIB
