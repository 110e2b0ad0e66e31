"""TLS material: a local CA and a server certificate made on first ``up``, or the sysadmin's own
certificate chain (from their ACME client) named in the settings."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from identity.errors import ConfigError
from mailstack.files import ensure_dir
from mailstack.layout import Layout
from mailstack.process import run
from mailstack.settings import Settings

# Mozilla's "intermediate" TLS 1.2 cipher list (TLS 1.3 suites are OpenSSL's defaults), without
# the DHE suites, which would need a DH parameter file for Dovecot.
CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ]
)


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    ca_cert: Path | None  # the local CA clients must trust; None with the sysadmin's own chain
    # SHA-256 of the certificate file: rendered into the daemons' configurations, so a renewed
    # certificate (same path, new content) changes them and `up` reloads the daemons.
    fingerprint: str = ""


def subject_alt_names(settings: Settings) -> list[str]:
    names = [f"DNS:{settings.mail_host}", f"DNS:{settings.domain}", "DNS:localhost"]
    addresses = {settings.listen, settings.connect_host, "127.0.0.1", "::1"}
    for address in sorted(addresses):
        if ipaddress.ip_address(address).is_unspecified:
            continue
        names.append(f"IP:{address}")
    return names


def tls_files(settings: Settings) -> TlsFiles:
    layout = Layout(settings.state_dir)
    if settings.tls.cert and settings.tls.key:
        return TlsFiles(settings.tls.cert, settings.tls.key, None, _digest(settings.tls.cert))
    return TlsFiles(
        layout.server_cert, layout.server_key, layout.ca_cert, _digest(layout.server_cert)
    )


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def ensure_tls(settings: Settings) -> list[str]:
    """Make the local CA and server certificate if missing, or reissue the server certificate
    when its names no longer match the settings. Returns what was done."""
    if settings.tls.cert and settings.tls.key:
        check_given(settings)
        return []
    layout = Layout(settings.state_dir)
    ensure_dir(layout.tls, 0o755)
    done = []
    if not (layout.ca_cert.is_file() and layout.ca_key.is_file()):
        _openssl_key(layout.ca_key)
        run(
            [
                "openssl",
                "req",
                "-x509",
                "-new",
                "-key",
                str(layout.ca_key),
                "-sha256",
                "-days",
                "3650",
                "-subj",
                f"/O=alumail/CN=alumail local CA for {settings.domain}",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
                "-out",
                str(layout.ca_cert),
            ],
            what="making the local CA",
        )
        os.chmod(layout.ca_cert, 0o644)
        done.append(f"created local CA {layout.ca_cert}")
    sans = ",".join(subject_alt_names(settings))
    # The names a certificate was issued for are kept beside it, so a change of settings
    # (mail host, listen address) reissues it and nothing else does.
    sans_file = layout.tls / "server.names"
    recorded = sans_file.read_text().strip() if sans_file.is_file() else None
    if not (layout.server_cert.is_file() and layout.server_key.is_file()) or recorded != sans:
        _openssl_key(layout.server_key)
        with tempfile.TemporaryDirectory() as tmp:
            csr = Path(tmp) / "server.csr"
            ext = Path(tmp) / "ext.cnf"
            ext.write_text(
                f"subjectAltName={sans}\nbasicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n"
            )
            run(
                [
                    "openssl",
                    "req",
                    "-new",
                    "-key",
                    str(layout.server_key),
                    "-subj",
                    f"/CN={settings.mail_host}",
                    "-out",
                    str(csr),
                ],
                what="making a server CSR",
            )
            run(
                [
                    "openssl",
                    "x509",
                    "-req",
                    "-in",
                    str(csr),
                    "-CA",
                    str(layout.ca_cert),
                    "-CAkey",
                    str(layout.ca_key),
                    "-CAcreateserial",
                    "-days",
                    "825",
                    "-sha256",
                    "-extfile",
                    str(ext),
                    "-out",
                    str(layout.server_cert),
                ],
                what="signing the server certificate",
            )
        os.chmod(layout.server_cert, 0o644)
        (layout.tls / "ca.srl").unlink(missing_ok=True)
        sans_file.write_text(sans + "\n")
        done.append(f"issued server certificate for {sans}")
    return done


def check_given(settings: Settings) -> None:
    """The certificate and key of ``tls.cert``/``tls.key`` exist, are PEM that openssl reads,
    and belong together (same public key). ``up`` and ``up --dry-run`` both ask this."""
    if not (settings.tls.cert and settings.tls.key):
        return
    for key, path in (("tls.cert", settings.tls.cert), ("tls.key", settings.tls.key)):
        if not path.is_file():
            raise ConfigError(f"{key}: {path} does not exist")
    from_cert = run(
        ["openssl", "x509", "-in", str(settings.tls.cert), "-noout", "-pubkey"],
        error=ConfigError,
        what=f"tls.cert: openssl reading {settings.tls.cert} as a PEM certificate",
    )
    from_key = run(
        ["openssl", "pkey", "-in", str(settings.tls.key), "-pubout"],
        error=ConfigError,
        what=f"tls.key: openssl reading {settings.tls.key} as a PEM private key",
    )
    if from_cert.strip() != from_key.strip():
        raise ConfigError(f"tls.key: {settings.tls.key} is not the key of {settings.tls.cert}")


def _openssl_key(path: Path) -> None:
    run(
        [
            "openssl",
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            str(path),
        ],
        what="making a private key",
    )
    os.chmod(path, 0o600)
