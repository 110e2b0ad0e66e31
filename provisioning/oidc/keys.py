"""The provider's signing keys: an RS256 key (the default) and an ES256 key (offered to
clients registered for it), private, in one 0600 file of the web service under the state
directory (Layout.oidc_keys). ``rotate`` adds a new pair and retires the current one: a retired
key signs nothing more but stays published in the JWKS until every ID token it signed has
expired (ID_TOKEN_TTL), and is dropped at the next rotation after that."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey, RSAKey

from identity.errors import ConfigError
from mailstack.files import ensure_dir
from mailstack.privileges import SERVICE_USER
from provisioning.oidc.rules import ID_TOKEN_TTL

ALGORITHMS = ("RS256", "ES256")
RSA_BITS = 2048
Key = RSAKey | ECKey


@dataclass(frozen=True)
class StoredKey:
    key: Key
    alg: str
    created: float
    retired: float | None

    @property
    def kid(self) -> str:
        return str(self.key.kid)

    def published(self, now: float) -> bool:
        return self.retired is None or self.retired + ID_TOKEN_TTL > now

    def as_dict(self) -> dict[str, Any]:
        return {"kid": self.kid, "alg": self.alg, "created": self.created, "retired": self.retired}


def _new(alg: str, now: float) -> StoredKey:
    parameters: Any = {"alg": alg, "use": "sig"}
    key: Key
    if alg == "RS256":
        key = RSAKey.generate_key(RSA_BITS, parameters=parameters, auto_kid=True)
    else:
        key = ECKey.generate_key("P-256", parameters=parameters, auto_kid=True)
    return StoredKey(key, alg, now, None)


def _read(path: Path) -> list[StoredKey]:
    try:
        data = json.loads(path.read_text())
        found = []
        for item in data["keys"]:
            jwk = item["jwk"]
            key: Key = RSAKey.import_key(jwk) if jwk["kty"] == "RSA" else ECKey.import_key(jwk)
            found.append(StoredKey(key, item["alg"], item["created"], item["retired"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"the provider's signing keys ({path}) cannot be read: {exc}") from exc
    return found


def _staged(path: Path, keys: list[StoredKey]) -> Path:
    """The key file's new content in a file of its own beside it (0600, the service's)."""
    ensure_dir(path.parent, 0o700, SERVICE_USER, SERVICE_USER)
    data = {
        "keys": [
            {
                "jwk": k.key.as_dict(private=True),
                "alg": k.alg,
                "created": k.created,
                "retired": k.retired,
            }
            for k in keys
        ]
    }
    partial = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    if os.geteuid() == 0:  # root's command: the file is the web service's
        shutil.chown(partial, SERVICE_USER, SERVICE_USER)
    return partial


def _write(path: Path, keys: list[StoredKey]) -> None:
    """Replace the key file at once (readers see the old or the new one, whole)."""
    _staged(path, keys).replace(path)


def _create(path: Path, keys: list[StoredKey]) -> None:
    """The first key file, unless another process or thread made one meanwhile (then that one
    stays: two first requests must not sign with keys one of them then throws away)."""
    partial = _staged(path, keys)
    try:
        os.link(partial, path)
    except FileExistsError:
        pass
    finally:
        partial.unlink()


class SigningKeys:
    """The key file of one state directory; made on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path  # Layout.oidc_keys
        # Parsed keys by the file's identity: importing an RSA private key costs tens of
        # milliseconds, and a rotation replaces the file (a new inode), which reloads them.
        self._cache: tuple[tuple[int, int, int], list[StoredKey]] | None = None

    def all(self) -> list[StoredKey]:
        if not self.path.exists():
            now = time.time()
            _create(self.path, [_new(alg, now) for alg in ALGORITHMS])
        try:
            found = self.path.stat()
        except OSError as exc:
            raise ConfigError(f"the provider's signing keys ({self.path}): {exc}") from exc
        identity = (found.st_ino, found.st_mtime_ns, found.st_size)
        if self._cache is None or self._cache[0] != identity:
            self._cache = (identity, _read(self.path))
        return list(self._cache[1])

    def signing(self, alg: str) -> StoredKey:
        """The current key for ``alg``."""
        for key in self.all():
            if key.alg == alg and key.retired is None:
                return key
        raise ConfigError(f"the provider has no current {alg} signing key: run `oidc keys rotate`")

    def published(self) -> list[StoredKey]:
        """The current keys and those retired less than an ID token's lifetime ago."""
        now = time.time()
        return [k for k in self.all() if k.published(now)]

    def jwks(self) -> dict[str, Any]:
        """The public halves of the published keys: what clients verify with."""
        return {"keys": [k.key.as_dict(private=False) for k in self.published()]}

    def rotate(self) -> tuple[list[StoredKey], list[StoredKey]]:
        """A new key per algorithm; the current ones retire (still published until their
        tokens expire); keys retired longer ago than that are dropped. (added, dropped)"""
        now = time.time()
        kept: list[StoredKey] = []
        dropped: list[StoredKey] = []
        for key in self.all():
            if not key.published(now):
                dropped.append(key)
            elif key.retired is None:
                kept.append(StoredKey(key.key, key.alg, key.created, now))
            else:
                kept.append(key)
        added = [_new(alg, now) for alg in ALGORITHMS]
        _write(self.path, kept + added)
        return added, dropped
