"""A rendered configuration file that is damaged or replaced by something else: `up` rewrites a
damaged file, and refuses, with the path, to touch a folder standing where a file belongs."""

from __future__ import annotations

from pathlib import Path

import pytest

from identity.errors import ConfigError
from mailstack.files import FileSpec, changed, install

pytestmark = pytest.mark.unit


def test_a_file_of_invalid_utf8_is_rewritten(tmp_path: Path) -> None:
    spec = FileSpec("etc/dovecot/dovecot.conf", "protocols = imap\n", mode=0o644)
    install(tmp_path, [spec])
    assert changed(tmp_path, [spec]) == []
    (tmp_path / spec.relpath).write_bytes(b"protocols = \xff\xfe imap\n")
    assert changed(tmp_path, [spec]) == [spec]
    install(tmp_path, changed(tmp_path, [spec]))
    assert (tmp_path / spec.relpath).read_text() == spec.text


def test_a_folder_where_a_rendered_file_belongs_is_a_configuration_error(tmp_path: Path) -> None:
    spec = FileSpec("etc/postfix/main.cf", "myhostname = x\n")
    (tmp_path / spec.relpath).mkdir(parents=True)
    (tmp_path / spec.relpath / "kept.txt").write_text("the user's")
    with pytest.raises(ConfigError, match=r"main\.cf .* not a regular file"):
        changed(tmp_path, [spec])
    assert (tmp_path / spec.relpath / "kept.txt").read_text() == "the user's"
