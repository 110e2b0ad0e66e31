"""Password policy and hashing.

Hashes are argon2id written as ``{ARGON2}$argon2id$...`` (slapd's argon2 module verifies them).
We hash in Python because slapd 2.5 corrupts ``{ARGON2}`` values it computes itself. The
parameters are pinned: slapd verifies the hash on every fresh mail login, so the cost is paid per
login, not once. m=7 MiB, t=5, p=1 is one of OWASP's recommended argon2id settings (equal
strength to m=19 MiB, t=2) with the least memory per concurrent verification; it costs about
20 ms of one core here, so a box verifies ~90 fresh logins/s and Dovecot's auth cache absorbs
reconnects.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import string
from dataclasses import dataclass

from passlib.hash import argon2

from identity.errors import ValidationError
from identity.markers import N_

ARGON2_MEMORY_KIB = 7168
ARGON2_TIME_COST = 5
ARGON2_PARALLELISM = 1
SCHEME_PREFIX = "{ARGON2}"

_hasher = argon2.using(
    type="ID",
    memory_cost=ARGON2_MEMORY_KIB,
    rounds=ARGON2_TIME_COST,
    parallelism=ARGON2_PARALLELISM,
)


@dataclass(frozen=True)
class PasswordPolicy:
    """The rules a new password must meet. The same numbers are written to slapd's ppolicy
    entry, so the directory enforces what the code checks."""

    min_length: int = 10
    max_length: int = 128
    max_failure: int = 10  # failed binds before the account locks
    failure_count_interval: int = 600  # seconds after which old failures are forgotten
    lockout_duration: int = 900  # seconds a lockout lasts

    def describe(self) -> list[str]:
        """The rules in words, as the registration and password pages show them."""
        return [
            N_("at least {low} and at most {high} characters").format(
                low=self.min_length, high=self.max_length
            ),
            N_("at least 4 different characters"),
            N_("no spaces at the start or end, no control characters"),
            N_("must not contain your UID"),
        ]

    def check(self, password: str, *, uid: str | None = None, field: str = "password") -> None:
        if len(password) < self.min_length:
            raise ValidationError(
                field, N_("must be at least {count} characters").format(count=self.min_length)
            )
        if len(password) > self.max_length:
            raise ValidationError(
                field, N_("must be at most {count} characters").format(count=self.max_length)
            )
        if password != password.strip():
            raise ValidationError(field, N_("must not begin or end with white space"))
        if any(ord(c) < 32 or ord(c) == 127 for c in password):
            raise ValidationError(field, N_("must not contain control characters"))
        if len(set(password)) < 4:
            raise ValidationError(field, N_("must use at least 4 different characters"))
        if uid and uid.lower() in password.lower():
            raise ValidationError(field, N_("must not contain the UID"))


DEFAULT_POLICY = PasswordPolicy()


def hash_password(password: str) -> str:
    """The userPassword value for ``password``."""
    hashed: str = _hasher.hash(password)
    return SCHEME_PREFIX + hashed


def hash_secret(secret: str) -> str:
    """The userPassword value for a machine secret (a service account's random 256-bit token).

    Salted SHA-512, verified by slapd's pw-sha2 module. A slow hash protects guessable human
    passwords; a random token cannot be guessed, and the mail daemons bind with it on every
    connection, so it is hashed fast.
    """
    salt = os.urandom(16)
    digest = hashlib.sha512(secret.encode() + salt).digest()
    return "{SSHA512}" + base64.b64encode(digest + salt).decode()


def verify_password(password: str, stored: str) -> bool:
    """True if ``password`` matches a value made by :func:`hash_password`."""
    if not stored.startswith(SCHEME_PREFIX):
        return False
    return bool(argon2.verify(password, stored[len(SCHEME_PREFIX) :]))


# Digest lengths of the salted/unsalted schemes slapd verifies (pw-sha2 adds the SHA-2 ones).
_DIGESTS = {"SHA": 20, "MD5": 16, "SHA256": 32, "SHA512": 64}
_CRYPT = re.compile(
    r"^(?:\$(?:1|5|6)\$(?:rounds=\d+\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{22,86}"
    r"|\$2[aby]\$\d\d\$[./0-9A-Za-z]{53}"
    r"|\$y\$[./0-9A-Za-z]+\$[./0-9A-Za-z]*\$[./0-9A-Za-z]{43}"
    r"|[./0-9A-Za-z]{13})$"
)
_ARGON2 = re.compile(
    r"^\$argon2(?:i|d|id)\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$"
)
LEGACY_SCHEMES = (
    "CRYPT",
    "SSHA",
    "SHA",
    "SMD5",
    "MD5",
    "SSHA256",
    "SHA256",
    "SSHA512",
    "SHA512",
    "ARGON2",
)


def check_stored_hash(value: str, *, field: str = "password_hash") -> str:
    """A password hash in a format slapd verifies, to be stored as it is (so an alumnus keeps
    a legacy password): {CRYPT} (MD5, SHA-256, SHA-512, bcrypt, yescrypt, DES), {SSHA},
    {SHA}, {SMD5}, {MD5}, {SSHA256}, {SHA256}, {SSHA512}, {SHA512}, {ARGON2}."""
    match = re.fullmatch(r"\{([A-Z0-9]+)\}(.+)", value.strip())
    if not match or match.group(1) not in LEGACY_SCHEMES:
        raise ValidationError(field, f"must start with one of {{{'}, {'.join(LEGACY_SCHEMES)}}}")
    scheme, body = match.groups()
    if scheme == "CRYPT":
        ok = bool(_CRYPT.fullmatch(body))
    elif scheme == "ARGON2":
        ok = bool(_ARGON2.fullmatch(body))
    else:
        try:
            raw = base64.b64decode(body, validate=True)
        except ValueError:
            raw = b""
        salted = scheme.startswith("S") and scheme[1:] in _DIGESTS
        size = _DIGESTS[scheme[1:] if salted else scheme]
        ok = len(raw) >= size + 4 if salted else len(raw) == size
    if not ok:
        raise ValidationError(field, f"is not a well-formed {{{scheme}}} hash")
    return value.strip()


def generate_password(length: int = 20) -> str:
    """A random password that meets the default policy (letters and digits: easy to read out)."""
    alphabet = string.ascii_letters + string.digits
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if len(set(candidate)) >= 4:
            return candidate
