"""Key material as one step of bring-up, before anything renders: the TLS certificate (the
local CA's, made or reissued here, or the sysadmin's own, checked here) and the DKIM key in use
(made here on the first ``up``). What the configurations need of them (paths, the certificate's
fingerprint, the DKIM records) is read once into :class:`KeyMaterial` and handed to the render
context, so rendering reads no key file."""

from __future__ import annotations

from dataclasses import dataclass

from mailstack.keys.dkim import NO_DKIM_KEY, DkimKeys, DkimMaterial
from mailstack.keys.tls import TlsFiles, ensure_tls, tls_files
from mailstack.layout import Layout
from mailstack.settings import Settings

# What makes the keys, required before anything starts: the TLS certificates are made with
# openssl, the DKIM keys with OpenDKIM's own generator.
KEY_PROGRAMS = ("openssl", "opendkim-genkey")


@dataclass(frozen=True)
class KeyMaterial:
    tls: TlsFiles
    dkim: DkimMaterial


def prepare_keys(settings: Settings) -> tuple[KeyMaterial, list[str]]:
    """Make what is missing, then read it all; with what was done, for ``up`` to report."""
    done = ensure_tls(settings)
    done += DkimKeys(Layout(settings.state_dir)).ensure(settings.domain)
    return read_keys(settings), done


def read_keys(settings: Settings, *, dkim: bool = True) -> KeyMaterial:
    """The key material as it is on disk (before the first ``up``: paths it will have, no
    fingerprint, no DKIM key). ``dkim=False`` leaves the DKIM keys unread, for a process that
    may not read them."""
    keys = DkimKeys(Layout(settings.state_dir))
    return KeyMaterial(tls_files(settings), keys.material() if dkim else NO_DKIM_KEY)
