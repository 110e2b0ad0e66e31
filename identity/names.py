"""People's names as the alumni write them: mostly Han characters, sometimes a Latin-script
spelling (pinyin or another), typed with half- or full-width characters and spaces anywhere.

Two names are the same name when they are equal after Unicode normalisation (NFKC, which maps
full-width Latin letters and the ideographic space to their plain forms), with case and every
space removed. Traditional and simplified characters are different characters, so 張伟 is not
张伟. Search also knows a Han name by its pinyin (pypinyin's dictionary), with or without spaces
between the syllables, and lists of people are sorted by it (sort_key).
"""

from __future__ import annotations

import functools
import itertools
import unicodedata

from pypinyin import Style, pinyin

# Combinations of readings kept per name: a name of heteronyms (单, 曾, 乐 ...) has several
# pinyin spellings; a handful cover every real name without letting a long one explode.
MAX_READINGS = 16
# Characters people put between syllables of a romanised name: Xi'an, Ou-yang, Zhang·Wei.
_SEPARATORS = str.maketrans("", "", "'\u2019-\u00b7.")


def folded(name: str) -> str:
    """``name`` for comparison: NFKC, case-folded, with no whitespace of any width."""
    return "".join(unicodedata.normalize("NFKC", name).casefold().split())


def same_name(a: str, b: str) -> bool:
    return folded(a) == folded(b)


def is_han(char: str) -> bool:
    return unicodedata.name(char, "").startswith("CJK UNIFIED IDEOGRAPH") or (
        unicodedata.name(char, "").startswith("CJK COMPATIBILITY IDEOGRAPH")
    )


def has_han(text: str) -> bool:
    return any(is_han(c) for c in text)


def compose_display_name(given: str, family: str) -> str:
    """The display name from its parts: family name first with no space for a Han name
    (张 + 伟 -> 张伟), given name first for a name in another script (Wei Zhang)."""
    given, family = given.strip(), family.strip()
    if has_han(given) or has_han(family):
        return f"{family}{given}"
    return " ".join(part for part in (given, family) if part)


@functools.lru_cache(maxsize=65536)
def pinyin_keys(name: str) -> tuple[str, ...]:
    """The ways ``name`` is spelled in pinyin without tones or spaces, folded (张伟 ->
    ``zhangwei``); () for a name with no Han character. Each heteronym's readings count, up to
    MAX_READINGS spellings."""
    if not has_han(name):
        return ()
    readings = pinyin(
        unicodedata.normalize("NFKC", name), style=Style.NORMAL, heteronym=True, errors="default"
    )
    spellings: list[str] = []
    for combination in itertools.islice(itertools.product(*readings), MAX_READINGS):
        key = folded("".join(combination)).translate(_SEPARATORS)
        if key not in spellings:
            spellings.append(key)
    return tuple(spellings)


def sort_key(name: str) -> tuple[str, str]:
    """Where ``name`` goes in a list of people: by its pinyin (the first reading) for a Han
    name, as written otherwise, so 张伟 (zhangwei) comes between Zhang Min and Zhao Lei; ties
    by the name itself."""
    spellings = pinyin_keys(name)
    return (spellings[0] if spellings else search_key(name), folded(name))


def search_key(text: str) -> str:
    """What a search term is compared as: folded, syllable separators dropped."""
    return folded(text).translate(_SEPARATORS)


def name_matches(query: str, name: str) -> bool:
    """A search for ``query`` finds ``name``: a part of the name as written (spaces, width and
    case aside), or of its pinyin (张伟 is found by 张伟, ``zhang wei`` and ``zhangwei``)."""
    key = search_key(query)
    if not key:
        return False
    if key in search_key(name):
        return True
    return any(key in spelling for spelling in pinyin_keys(name))
