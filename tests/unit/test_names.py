"""Names as the alumni write them: roster matching after NFKC with spaces of any width and case
aside, the Latin-script spelling beside a Han name, display names composed family name first,
pinyin search keys, and birth dates in the forms people use."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from identity.errors import ValidationError
from identity.names import (
    compose_display_name,
    folded,
    name_matches,
    pinyin_keys,
    same_name,
)
from provisioning.people import roster
from provisioning.store import Store

pytestmark = pytest.mark.unit

# Spaces a person (or an input method) puts into a name: ASCII, no-break, ideographic (full
# width), en/em spaces, tabs.
SPACES = st.sampled_from([" ", "\u00a0", "\u3000", "\u2002", "\u2003", "\t"])
HAN = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
LATIN = st.characters(min_codepoint=ord("a"), max_codepoint=ord("z"))
NAMES = st.lists(st.one_of(HAN, LATIN), min_size=1, max_size=8).map("".join)


def full_width(char: str) -> str:
    """The full-width form of an ASCII letter (what a Chinese input method types)."""
    return chr(ord(char) - 0x21 + 0xFF01) if "!" <= char <= "~" else char


def wide(text: str) -> str:
    return "".join(full_width(c) for c in text)


@st.composite
def as_typed(draw: st.DrawFn, name: str) -> str:
    """``name`` typed another way: spaces of any width anywhere, any case, any width."""
    out = [draw(st.lists(SPACES, max_size=2).map("".join))]
    for char in name:
        char = char.upper() if draw(st.booleans()) else char
        char = full_width(char) if draw(st.booleans()) else char
        out.append(char + draw(st.lists(SPACES, max_size=2).map("".join)))
    return "".join(out)


@given(st.data(), NAMES)
def test_any_spacing_width_and_case_of_a_roster_name_matches(
    data: st.DataObject, name: str
) -> None:
    typed = data.draw(as_typed(name))
    assert same_name(typed, name)
    graduate = roster.Graduate("S1", name, "1990-02-03", None, None)
    assert roster.mismatch(graduate, typed, "1990-02-03", None) is None


@given(NAMES, NAMES)
def test_a_different_name_never_matches(name: str, other: str) -> None:
    assume(folded(name) != folded(other))
    graduate = roster.Graduate("S1", name, "1990-02-03", None, None)
    assert roster.mismatch(graduate, other, "1990-02-03", None) == (
        "name",
        "does not match the name on the alumni roster for this student number",
    )


def test_the_examples_of_the_issue() -> None:
    assert same_name("张 伟", "张伟")
    assert same_name("欧阳娜娜", "欧阳 娜娜") and same_name("欧阳\u3000娜娜", "欧阳娜娜")
    assert same_name(wide("ZHANG") + "\u3000wei", "Zhang Wei")
    # Traditional and simplified characters are different characters: a different name.
    assert not same_name("張伟", "张伟")


def test_the_latin_spelling_on_the_roster_is_accepted_beside_the_han_name() -> None:
    wei = roster.Graduate("S1", "张伟", None, 2012, None, latin_name="Zhang Wei")
    for typed in ("张伟", "zhang wei", "ZhangWei", wide("ZHANG WEI")):
        assert roster.proves(wei, typed, None, 2012), typed
    assert not roster.proves(wei, "Wang Wei", None, 2012)
    # Without a Latin spelling on the roster, only the name itself proves it.
    assert not roster.proves(
        roster.Graduate("S1", "张伟", None, 2012, None), "zhang wei", None, 2012
    )


def test_each_wrong_answer_is_reported_under_its_own_field() -> None:
    both = roster.Graduate("S1", "王芳", "1990-02-03", 2012, None)
    assert roster.mismatch(both, "王 芳", "1990-02-03", None) is None
    # The graduation year alone is enough where the roster holds one, birth date or not.
    assert roster.mismatch(both, "王芳", None, 2012) is None
    assert roster.mismatch(both, "王芳", "1990-02-04", None)[0] == "birth_date"  # type: ignore[index]
    assert roster.mismatch(both, "王芳", None, 2013)[0] == "graduation_year"  # type: ignore[index]
    assert roster.mismatch(both, "王芳", "1990-02-03", 2013)[0] == "graduation_year"  # type: ignore[index]
    assert roster.mismatch(both, "李芳", "1990-02-03", 2012)[0] == "name"  # type: ignore[index]
    only_birth = roster.Graduate("S2", "王芳", "1990-02-03", None, None)
    field, reason = roster.mismatch(only_birth, "王芳", None, 2012) or ("", "")
    assert field == "birth_date" and "holds your date of birth" in reason
    only_year = roster.Graduate("S3", "王芳", None, 2012, None)
    field, reason = roster.mismatch(only_year, "王芳", "1990-02-03", None) or ("", "")
    assert field == "graduation_year" and "holds your graduation year" in reason


def test_display_names_put_a_han_family_name_first_without_a_space() -> None:
    assert compose_display_name("伟", "张") == "张伟"
    assert compose_display_name("娜娜", "欧阳") == "欧阳娜娜"
    assert compose_display_name("Wei", "Zhang") == "Wei Zhang"
    assert compose_display_name(" Wei ", "") == "Wei"


def test_pinyin_search_keys() -> None:
    assert pinyin_keys("张伟") == ("zhangwei",)
    assert "ouyangnana" in pinyin_keys("欧阳娜娜")
    # A heteronym surname has each reading: 单 is Shan as a surname, Dan as a word.
    assert {"shanxiongxin", "danxiongxin"} <= set(pinyin_keys("单雄信"))
    assert pinyin_keys("Zhang Wei") == ()
    assert pinyin_keys("张\u3000伟") == ("zhangwei",)


@pytest.mark.parametrize(
    "query", ["张伟", "张 伟", "zhang wei", "zhangwei", "ZHANG", "wei", "Zhang-Wei"]
)
def test_the_helpdesk_finds_zhang_wei_by_han_and_pinyin(query: str) -> None:
    assert name_matches(query, "张伟")


@pytest.mark.parametrize("query", ["李伟", "zhangwen", "wang", "張伟", " ", "'"])
def test_a_search_for_someone_else_does_not_find_zhang_wei(query: str) -> None:
    assert not name_matches(query, "张伟")


@given(NAMES)
def test_a_name_is_found_by_itself_however_it_is_spaced(name: str) -> None:
    assert name_matches(" ".join(name), name)
    assert name_matches(unicodedata.normalize("NFKC", name).upper(), name)


@pytest.mark.parametrize(
    "typed",
    [
        "1993-05-17",
        "1993年5月17日",
        "1993年05月17日",
        "1993/5/17",
        "1993.5.17",
        "１９９３年５月１７日",
        " 1993 年 5 月 17 日 ",
        "1993-5-17",
    ],
)
def test_birth_dates_in_the_forms_people_write(typed: str) -> None:
    assert roster.check_birth_date(typed) == "1993-05-17"


@pytest.mark.parametrize(
    ("typed", "rule"),
    [
        ("1993-02-30", "is not a date of the calendar"),
        ("1993年13月1日", "is not a date of the calendar"),
        ("1993/5.17", "must be a date such as"),
        ("17.5.1993", "must be a date such as"),
        ("\u0661\u0669\u0669\u0663-05-17", "must be a date such as"),  # Arabic-Indic digits
        ("2999-01-01", "must be a past date"),
        ("", "must be a date such as"),
    ],
)
def test_impossible_birth_dates_are_refused_with_the_field_named(typed: str, rule: str) -> None:
    with pytest.raises(ValidationError) as caught:
        roster.check_birth_date(typed)
    assert caught.value.field == "birth_date" and rule in caught.value.rule


def test_the_roster_carries_an_optional_latin_name(tmp_path: Path) -> None:
    store = Store(tmp_path / "web" / "service.db")
    with_column = tmp_path / "latin.csv"
    with_column.write_text(
        "student_number,name,birth_date,graduation_year,legacy_address,latin_name\n"
        "s-1001,张伟,1990年2月3日,,,Zhang Wei\ns-1002,欧阳娜娜,,2012,,\n",
        encoding="utf-8",
    )
    report = roster.load_csv(store, with_column)
    assert (report.added, report.errors) == (2, [])
    wei = roster.lookup(store, "S-1001")
    assert wei is not None and (wei.latin_name, wei.birth_date) == ("Zhang Wei", "1990-02-03")
    nana = roster.lookup(store, "S-1002")
    assert nana is not None and nana.latin_name is None
    # The same file again changes nothing; the old header (no latin_name) still loads.
    assert roster.load_csv(store, with_column).unchanged == 2
    without = tmp_path / "old.csv"
    without.write_text(
        "student_number,name,birth_date,graduation_year,legacy_address\ns-1003,Li Lei,,2010,\n"
    )
    assert roster.load_csv(store, without).added == 1


def test_the_roster_search_finds_unregistered_graduates_by_name_pinyin_and_number(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "web" / "service.db")
    path = tmp_path / "roster.csv"
    path.write_text(
        "student_number,name,birth_date,graduation_year,legacy_address,latin_name\n"
        "s-2001,张伟,1990-02-03,,,\ns-2002,欧阳娜娜,,2012,,Ouyang Nana\n"
        "s-2003,张伟,,2013,,\ns-2004,Li_Lei,,2014,,\n",
        encoding="utf-8",
    )
    assert roster.load_csv(store, path).added == 4
    assert roster.mark_registered(store, "S-2003", "zhang.wei")

    def found(query: str) -> list[str]:
        return [g.student_number for g in roster.unregistered_matching(store, query, 10)]

    for query in ("张伟", "张 伟", "zhang wei", "ZHANGWEI", "s-2001", "2001"):
        assert found(query) == ["S-2001"], query  # the registered namesake is not listed
    assert found("ouyang nana") == found("欧阳") == found("nana") == ["S-2002"]
    assert found("s-200") == ["S-2001", "S-2002", "S-2004"]
    assert roster.unregistered_matching(store, "s-200", 2)[-1].student_number == "S-2002"
    # LIKE's wildcards are letters like any other here.
    assert found("%") == [] and found("i_l") == ["S-2004"] and found("ixl") == []
    # Rows loaded before the keys were kept get theirs on the first search.
    with store.connect() as db:
        db.execute("UPDATE roster SET search_keys = NULL")
    assert found("zhangwei") == ["S-2001"]
