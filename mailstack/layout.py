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

    # Data
    @property
    def slapd_d(self) -> Path:
        """cn=config as slapd keeps it: derived from etc/slapd/config.ldif, rebuilt on change."""
        return self.root / "ldap" / "slapd.d"

    @property
    def ldap_data(self) -> Path:
        return self.root / "ldap" / "data"

    @property
    def mail(self) -> Path:
        return self.root / "mail"

    @property
    def postfix_queue(self) -> Path:
        return self.root / "postfix" / "queue"

    @property
    def postfix_data(self) -> Path:
        return self.root / "postfix" / "data"

    @property
    def dovecot_state(self) -> Path:
        return self.root / "dovecot" / "state"

    # Runtime: pid files and sockets
    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def slapd_run(self) -> Path:
        return self.run / "slapd"

    @property
    def dovecot_run(self) -> Path:
        return self.run / "dovecot"

    @property
    def ldapi_socket(self) -> Path:
        return self.slapd_run / "ldapi"

    @property
    def ldapi_uri(self) -> str:
        return ldapi_uri(self.ldapi_socket)

    @property
    def log(self) -> Path:
        return self.root / "log"

    # Secrets and keys (0700 folders, 0600 files)
    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

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
