"""The root helper of the unprivileged web service answers about mailbox homes only."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailstack.mailbox import mailstore

pytestmark = pytest.mark.unit


def test_the_mail_store_helper_answers_only_about_mailbox_homes(tmp_path: Path) -> None:
    mail_root, archive = tmp_path / "mail", tmp_path / "archive"
    (mail_root / "example.org" / "alice").mkdir(parents=True)
    home = str(mail_root / "example.org" / "alice")
    assert mailstore._answer({"op": "exists", "home": home}, mail_root, archive) is True
    (tmp_path / "elsewhere").mkdir()
    (mail_root / "example.org" / "link").symlink_to(tmp_path / "elsewhere")
    for bad in [
        {"op": "remove", "home": str(tmp_path)},
        {"op": "remove", "home": "/etc"},
        {"op": "remove", "home": f"{home}/../../.."},
        {"op": "remove", "home": str(mail_root / "example.org" / "link")},
        {"op": "archive", "home": home, "folder": "/tmp", "uid": "alice"},
        {"op": "run", "home": home},
    ]:
        with pytest.raises(ValueError):
            mailstore._answer(bad, mail_root, archive)
    assert (tmp_path / "elsewhere").exists() and Path(home).exists()
