"""The two languages of the pages and mails: Simplified Chinese and English.

Texts are written in English in the code and templates, marked for extraction (``_()`` where
a text is used at once, ``N_()`` where it is made now and translated later, at the face), and
translated through gettext catalogs (provisioning/locale/<locale>/LC_MESSAGES/messages.po,
compiled to .mo; ``python -m provisioning.catalogs`` keeps them in step).

The language of the moment lives in a context variable: the web service sets it for each
request (provisioning/web/language.py), a use case sets it around a mail to a person whose
language it knows (``speaking``). Outside both (the CLI, the REST API) it is English: the
machine faces stay English.
"""

from __future__ import annotations

import contextvars
import gettext
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.support import NullTranslations, Translations

from identity.markers import N_ as N_  # re-exported: the one marker of the project
from identity.roles import ROLE_WORDS

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
ENGLISH = "en"
CHINESE = "zh-CN"
# As the pages name them (BCP 47, as HTML's lang and LDAP's preferredLanguage take them).
LANGUAGES = (CHINESE, ENGLISH)
LANGUAGE_NAMES = {CHINESE: "中文", ENGLISH: "English"}
_LOCALES = {CHINESE: "zh_CN", ENGLISH: "en"}

_current: contextvars.ContextVar[str] = contextvars.ContextVar("language", default=ENGLISH)


def supported(value: str | None) -> str | None:
    """``value`` (a tag such as ``zh``, ``zh-Hans``, ``zh_CN``, ``en-GB``) as one of
    LANGUAGES, or None when it names neither Chinese nor English."""
    if not value or len(value) > 35:
        return None
    try:
        locale = Locale.parse(value.strip().replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return None
    if locale.language == "zh":
        # Traditional-script tags (zh-Hant, zh-TW, zh-HK) still read Simplified best of the two.
        return CHINESE
    if locale.language == "en":
        return ENGLISH
    return None


_QUALITY = re.compile(r"q=([01](?:\.\d{0,3})?)")


def negotiate(accept_language: str | None) -> str:
    """The page language for a browser's Accept-Language: Chinese when it prefers zh (any
    zh-*) over English, English otherwise (also for a header that names neither)."""
    offers: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "")[:1000].split(",")):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        found = _QUALITY.fullmatch(params.strip().replace(" ", ""))
        if params and found:
            quality = float(found.group(1))
        elif params:
            continue
        language = supported(tag)
        if language is not None and quality > 0:
            offers.append((-quality, index, language))
    return min(offers)[2] if offers else ENGLISH


@cache
def translations(language: str) -> gettext.NullTranslations:
    if language == ENGLISH:
        return NullTranslations()  # the source texts are English
    return Translations.load(str(LOCALE_DIR), [_LOCALES[language]], DOMAIN)


def current() -> str:
    return _current.get()


def set_current(language: str) -> contextvars.Token[str]:
    return _current.set(language if language in LANGUAGES else ENGLISH)


def reset(token: contextvars.Token[str]) -> None:
    _current.reset(token)


@contextmanager
def speaking(language: str | None) -> Iterator[str]:
    """Within the block, texts are translated to ``language`` (a stored preference such as
    an entry's preferredLanguage; the language of the moment when it is none we know)."""
    chosen = supported(language) or current()
    token = set_current(chosen)
    try:
        yield chosen
    finally:
        _current.reset(token)


def _(text: str) -> str:
    """``text`` in the language of the moment."""
    return translations(current()).gettext(text)


def ngettext(singular: str, plural: str, count: int) -> str:
    return translations(current()).ngettext(singular, plural, count)


_FIELD = re.compile(r"\\\{(\w+)\\\}")


@cache
def _patterns(language: str) -> list[tuple[re.Pattern[str], str]]:
    """The catalog's texts with ``{name}`` fields, as patterns that find the values in an
    English text made from one (``N_("must be at most {n} characters").format(n=64)``)."""
    catalog = translations(language)
    found = []
    for msgid in getattr(catalog, "_catalog", {}):
        if isinstance(msgid, str) and "{" in msgid:
            seen: set[str] = set()

            def field(match: re.Match[str], seen: set[str] = seen) -> str:
                name = match.group(1)
                if name in seen:  # the same value again
                    return f"(?P={name})"
                seen.add(name)
                return f"(?P<{name}>.+?)"

            pattern = _FIELD.sub(field, re.escape(msgid))
            found.append((re.compile(pattern + r"\Z", re.DOTALL), msgid))
    return found


# Fields whose value is itself a made text (an action refused, a reason given).
MADE_FIELDS = frozenset({"what", "reason"})
# An actor as identity.roles.Actor writes itself: "name (role)".
_ACTOR = re.compile(r"(?P<name>.+) \((?P<role>" + "|".join(ROLE_WORDS) + r")\)", re.DOTALL)


def _values_in(values: dict[str, str], catalog: gettext.NullTranslations) -> dict[str, str]:
    """The values found in a made text, as the translated text shows them. Some fields carry
    words of ours, not data: ``{actor}`` ends with its role word, and ``{what}`` and
    ``{reason}`` are themselves made texts (``N_("{actor} may not {what}")`` with
    ``what=N_("delete accounts")``). Any other value (a UID, a name, an address) is the
    person's data, shown as it is, even when it happens to spell a word of the catalog."""
    shown = dict(values)
    actor = _ACTOR.fullmatch(values.get("actor", ""))
    if actor:
        role = catalog.gettext(ROLE_WORDS[actor.group("role")])
        shown["actor"] = f"{actor.group('name')} ({role})"
    for made in MADE_FIELDS & values.keys():
        shown[made] = translate_made(values[made])
    return shown


def translate_made(text: str) -> str:
    """An English text a use case made from an ``N_()``-marked one (a ValidationError's rule,
    a message), in the language of the moment; as it is when the catalog does not hold it."""
    language = current()
    catalog = translations(language)
    direct = catalog.gettext(text)
    if direct != text or language == ENGLISH:
        return direct
    for pattern, msgid in _patterns(language):
        match = pattern.match(text)
        if match:
            return catalog.gettext(msgid).format(**_values_in(match.groupdict(), catalog))
    # An error's message names its field first ("student_number: ..."): the rule after it.
    field, colon, rule = text.partition(": ")
    if colon and field.isidentifier():
        translated = translate_made(rule)
        if translated != rule:
            return f"{field}: {translated}"
    return text
