"""`up --dry-run` refuses what `up` refuses: a certificate that is missing, unreadable as PEM
or not the key's (a changed file its checker rejects: test_faults)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from identity.errors import ConfigError
from mailstack.settings import Settings
from provisioning import stack
from tests.support import self_signed_cert, state_root
from tests.support import test_settings as make_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def root() -> Iterator[Path]:
    path = state_root("dryrun")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _refused_alike(settings: Settings, message: str) -> None:
    for dry_run in (True, False):
        with pytest.raises(ConfigError, match=message):
            stack.up(settings, dry_run=dry_run)
    assert not (settings.state_dir / "etc").exists()  # nothing was written or started


def test_a_missing_certificate_is_refused_by_the_dry_run_too(root: Path) -> None:
    settings = make_settings(
        root, **{"tls.cert": "/nonexistent.crt", "tls.key": "/nonexistent.key"}
    )
    _refused_alike(settings, r"tls\.cert: /nonexistent\.crt does not exist")


def test_a_certificate_that_is_not_pem_is_refused_by_the_dry_run_too(root: Path) -> None:
    (root / "cert.pem").write_text("not a certificate\n")
    _, key = self_signed_cert(root, "one")
    settings = make_settings(root, **{"tls.cert": str(root / "cert.pem"), "tls.key": str(key)})
    _refused_alike(settings, r"tls\.cert: openssl reading .* as a PEM certificate")


def test_a_key_of_another_certificate_is_refused_by_the_dry_run_too(root: Path) -> None:
    cert, _ = self_signed_cert(root, "one")
    _, other_key = self_signed_cert(root, "two")
    settings = make_settings(root, **{"tls.cert": str(cert), "tls.key": str(other_key)})
    _refused_alike(settings, r"tls\.key: .* is not the key of")
