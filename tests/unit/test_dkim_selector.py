from pathlib import Path

import pytest

from identity.errors import ValidationError
from mailstack.keys.dkim import DkimKeys
from mailstack.layout import Layout

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("selector", ["k1\n", "k1\nKeyFile /etc/shadow", "../k1", "K1", "-k1"])
def test_a_selector_is_refused_before_anything_is_made(selector: str, tmp_path: Path) -> None:
    """The selector names the key's files and a line of OpenDKIM's configuration."""
    keys = DkimKeys(Layout(tmp_path))
    with pytest.raises(ValidationError, match="selector"):
        keys.generate("alumni.example.org", selector)
    assert not keys.directory.exists()
