"""nginx in front of the webmail: a private instance under the state directory serving
Roundcube's web root and passing its one entry point to our php-fpm
(:mod:`mailstack.daemons.php_fpm`). Its workers run as that pool's user; over TLS with the
stack's certificate when ``web.tls`` is on."""

from __future__ import annotations

import signal
from pathlib import Path
from urllib.parse import urlsplit

from identity.errors import ConfigError
from mailstack.context import RenderContext
from mailstack.daemon import Endpoint
from mailstack.daemons.php_fpm import ROUNDCUBE_HOME, WEBMAIL_USER, PhpFpm, post_max
from mailstack.daemons.signalled import SignalledDaemon
from mailstack.files import FileSpec, ensure_dir
from mailstack.keys.tls import CIPHERS
from mailstack.process import port_open, run, start_daemon, titled
from mailstack.settings import url_host
from mailstack.templates import render_template

CONFIG = "etc/nginx/nginx.conf"
WEB_ROOT = ROUNDCUBE_HOME / "public_html"
SERVICE = "webmail"


class Nginx(SignalledDaemon):
    name = "nginx"
    reload_signal = signal.SIGHUP  # rereads its configuration, replaces workers gracefully
    stop_timeout = 15

    def __init__(self, ctx: RenderContext) -> None:
        self.ctx = ctx
        self.layout = ctx.layout
        self.config = self.layout.root / CONFIG
        self.run_dir = self.layout.nginx_run
        self.pidfile = self.run_dir / "nginx.pid"
        self.logfile = self.layout.logfile(self.name)

    @property
    def url(self) -> str:
        return self.ctx.settings.webmail_url + "/"

    def render(self) -> list[FileSpec]:
        s = self.ctx.settings
        listen = url_host(s.listen)
        public = urlsplit(s.webmail_url)
        text = render_template(
            "nginx/nginx.conf.j2",
            user=WEBMAIL_USER,
            group=WEBMAIL_USER,
            pidfile=self.pidfile,
            log_path=self.logfile,
            run_dir=self.run_dir,
            body_max=post_max(s.message_size_limit),
            listen=listen,
            port=s.ports.webmail,
            tls=s.web.tls,
            tls_cert=self.ctx.tls.cert,
            tls_key=self.ctx.tls.key,
            tls_fingerprint=self.ctx.tls.fingerprint,
            tls_ciphers=CIPHERS,
            web_root=WEB_ROOT,
            # Roundcube builds its URLs (the OAuth redirect URI among them) from these: the
            # address people use, never the Host a request claims.
            public_host=public.netloc,
            public_port=public.port or (443 if public.scheme == "https" else 80),
            public_https=public.scheme == "https",
            socket=PhpFpm(self.ctx).socket,
        )
        return [FileSpec(CONFIG, text)]

    def prepare(self) -> None:
        ensure_dir(self.layout.run, 0o755)
        ensure_dir(self.run_dir, 0o755)
        ensure_dir(self.layout.log, 0o755)
        ensure_dir(self.layout.etc, 0o755)
        ensure_dir(self.layout.nginx_etc, 0o755)

    def _command(self, config: Path, *options: str) -> list[str]:
        # -e: nginx's own messages before it reads error_log go to our log, not /var/log/nginx.
        return [
            "nginx",
            "-p",
            f"{self.run_dir}/",
            "-e",
            str(self.logfile),
            "-c",
            str(config),
            *options,
        ]

    def check(self, staging: Path) -> None:
        run(
            [
                "nginx",
                "-t",
                "-q",
                "-p",
                f"{self.run_dir}/",
                "-e",
                "stderr",
                "-c",
                str(staging / CONFIG),
            ],
            error=ConfigError,
            what="nginx -t on the rendered nginx configuration",
        )

    def orphans(self) -> list[int]:
        # Only the master's title names the configuration; its workers die with it.
        return [p for p in titled("nginx: master process", str(self.config)) if p != self.pid()]

    def start(self) -> None:
        start_daemon(
            self._command(self.config),
            self.logfile,
            what="starting nginx",
            running=lambda: self.pid() is not None,
        )

    def ready(self) -> bool:
        return port_open(self.ctx.settings.connect_host, self.ctx.settings.ports.webmail)

    def endpoints(self) -> list[Endpoint]:
        s = self.ctx.settings
        return [Endpoint(SERVICE, s.connect_host, s.ports.webmail, url=self.url)]
