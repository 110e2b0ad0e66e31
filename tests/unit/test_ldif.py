import io

import ldif
import pytest
from hypothesis import given
from hypothesis import strategies as st

from identity.ldif import record

pytestmark = pytest.mark.unit

values = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=30)


@given(
    st.dictionaries(
        st.sampled_from(["cn", "sn", "description", "mail"]),
        st.lists(values, min_size=1, max_size=3),
        min_size=1,
    )
)
def test_records_parse_back_identically(entry: dict[str, list[str]]) -> None:
    text = record("uid=x,ou=people,dc=a,dc=example", entry)
    parser = ldif.LDIFRecordList(io.StringIO(text))
    parser.parse()
    [(dn, parsed)] = parser.all_records
    assert dn == "uid=x,ou=people,dc=a,dc=example"
    assert parsed == {k: [v.encode() for v in vs] for k, vs in entry.items()}


def test_unsafe_values_are_base64() -> None:
    text = record("cn=a", {"cn": [" lead", ":colon", "<angle", "trail ", "张三", "plain"]})
    assert "cn: plain\n" in text
    assert text.count("cn:: ") == 5
    assert text.endswith("\n\n")
