"""Where everything lives under the state directory. One place, so no module invents a path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from identity.directory import ldapi_uri


@dataclass(frozen=True)
class Layout:
    root: Path

    # Rendered configuration, one folder a daemon (relative paths are the keys of render()).
    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def slapd_etc(self) -> Path:
        return self.etc / "slapd"

    @property
    def dovecot_etc(self) -> Path:
        return self.etc / "dovecot"

    @property
    def postfix_etc(self) -> Path:
        return self.etc / "postfix"

    @property
    def nginx_etc(self) -> Path:
        return self.etc / "nginx"

    @property
    def php_fpm_etc(self) -> Path:
        return self.etc / "php-fpm"

    @property
    def roundcube_etc(self) -> Path:
        """Roundcube's configuration folder (``ROUNDCUBE_CONFIG_DIR``): our config.inc.php and
        links to the package's defaults.inc.php and mimetypes.php."""
        return self.etc / "roundcube"

    # Data
    @property
    def ldap(self) -> Path:
        return self.root / "ldap"

    @property
    def slapd_d(self) -> Path:
        """cn=config as slapd keeps it: derived from etc/slapd/config.ldif, rebuilt on change."""
        return self.ldap / "slapd.d"

    @property
    def slapd_d_stamp(self) -> Path:
        """Which config.ldif built slapd.d, and what the build wrote."""
        return self.ldap / "slapd.d.source"

    @property
    def ldap_data(self) -> Path:
        return self.ldap / "data"

    @property
    def mail(self) -> Path:
        return self.root / "mail"

    @property
    def archive(self) -> Path:
        """Mailboxes of deleted accounts (UID-TIME.tar.gz)."""
        return self.root / "archive"

    @property
    def transfer(self) -> Path:
        """Where the unprivileged web service has the doveadm server write a copy it then
        reads (a mailbox download)."""
        return self.root / "transfer"

    @property
    def tmp(self) -> Path:
        """Root's scratch space on the state's file system (backups, mailbox copies)."""
        return self.root / "tmp"

    @property
    def postfix(self) -> Path:
        return self.root / "postfix"

    @property
    def postfix_queue(self) -> Path:
        return self.postfix / "queue"

    @property
    def postfix_data(self) -> Path:
        return self.postfix / "data"

    @property
    def dovecot(self) -> Path:
        return self.root / "dovecot"

    @property
    def dovecot_state(self) -> Path:
        return self.dovecot / "state"

    @property
    def outbound(self) -> Path:
        """Mail for other domains, as the embedded stack's sink keeps it."""
        return self.root / "outbound"

    @property
    def web(self) -> Path:
        return self.root / "web"

    @property
    def web_db(self) -> Path:
        return self.web / "service.db"

    @property
    def web_key(self) -> Path:
        """The web service's own secret (CSRF tokens)."""
        return self.web / "key"

    @property
    def webmail(self) -> Path:
        """Roundcube's own state (its user's alone, 0700): the database, temp files, its log."""
        return self.root / "webmail"

    @property
    def webmail_db(self) -> Path:
        return self.webmail / "roundcube.db"

    @property
    def webmail_temp(self) -> Path:
        """Uploads and attachments being composed, PHP's upload and session scratch space."""
        return self.webmail / "temp"

    @property
    def webmail_log(self) -> Path:
        """Roundcube's own logs (errors, sendmail); the daemons' logs are under log/."""
        return self.webmail / "log"

    @property
    def webmail_key(self) -> Path:
        """Roundcube's DES key (it encrypts the IMAP password kept in the session)."""
        return self.webmail / "des_key"

    @property
    def oidc_keys(self) -> Path:
        """The OpenID Connect provider's signing keys (private: 0600, the web service's)."""
        return self.web / "oidc-keys.json"

    @property
    def audit(self) -> Path:
        return self.root / "audit"

    @property
    def audit_log(self) -> Path:
        return self.audit / "audit.jsonl"

    # Runtime: pid files and sockets
    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def slapd_run(self) -> Path:
        return self.run / "slapd"

    @property
    def slapd_pidfile(self) -> Path:
        return self.slapd_run / "slapd.pid"

    @property
    def dovecot_run(self) -> Path:
        return self.run / "dovecot"

    @property
    def nginx_run(self) -> Path:
        """nginx's pid file and its temp folders (request bodies, FastCGI buffers)."""
        return self.run / "nginx"

    @property
    def php_fpm_run(self) -> Path:
        """php-fpm's pid file and the socket nginx passes requests through."""
        return self.run / "php-fpm"

    @property
    def ldapi_socket(self) -> Path:
        return self.slapd_run / "ldapi"

    @property
    def ldapi_uri(self) -> str:
        return ldapi_uri(self.ldapi_socket)

    @property
    def log(self) -> Path:
        return self.root / "log"

    def logfile(self, daemon: str) -> Path:
        """A daemon's own log (rotated by size: mailstack.logs)."""
        return self.log / f"{daemon}.log"

    # Secrets and keys (0700 folders, 0600 files)
    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def dkim(self) -> Path:
        return self.root / "dkim"

    @property
    def tls(self) -> Path:
        return self.root / "tls"

    @property
    def ca_cert(self) -> Path:
        return self.tls / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.tls / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.tls / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.tls / "server.key"

    @property
    def staging(self) -> Path:
        return self.root / "staging"
