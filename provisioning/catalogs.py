"""The translation catalogs kept in step with the code, through Babel's own API (what
``pybabel extract -F babel.cfg``, ``update`` and ``compile`` do, in one command):

In a checkout (it reads babel.cfg and the sources beside it; a wheel ships the catalogs only):

    python -m provisioning.catalogs          # check: exit 1 listing what is out of step
    python -m provisioning.catalogs --update # extract, merge into each .po, compile the .mo

The check (run by ``make lint`` and tests/unit/test_catalogs.py) fails when a text marked in
the code or the templates is missing from a catalog, a catalog holds a text no longer marked,
a message is untranslated or fuzzy, or a compiled .mo differs from its .po.

Catalogs are written sorted and without source locations, so a change of code elsewhere in a
file never touches them (and two branches that mark different texts merge cleanly).

The .mo files are committed beside their .po: setuptools has no step that compiles them when
a wheel or an editable install is built, and the check proves they match.
"""

from __future__ import annotations

import argparse
import datetime
import io
import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from provisioning.i18n import DOMAIN, LOCALE_DIR

PROJECT = Path(__file__).resolve().parent.parent
CONFIG = PROJECT / "babel.cfg"
TEMPLATE = LOCALE_DIR / f"{DOMAIN}.pot"
LOCALES = ("zh_CN",)
# Written in each header instead of the time of the run, so an update that changes no text
# changes no file.
FIXED_DATE = datetime.datetime(2026, 11, 29, tzinfo=datetime.UTC)


# Babel's own keywords, and NC_(context, text): a text marked with its context (identity.markers).
KEYWORDS = {**DEFAULT_KEYWORDS, "NC_": ((1, "c"), 2)}


def extract() -> Catalog:
    """Every marked text of the project, as babel.cfg says where to look."""
    with CONFIG.open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)  # type: ignore[no-untyped-call]
    catalog = Catalog(project="alumail", charset="utf-8", creation_date=FIXED_DATE)
    for filename, lineno, message, comments, context in extract_from_dir(
        str(PROJECT), method_map, options_map, KEYWORDS, strip_comment_tags=True
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def po_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def _compiled(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    return buffer.getvalue()


def update() -> None:
    template = extract()
    LOCALE_DIR.mkdir(exist_ok=True)
    with TEMPLATE.open("wb") as handle:
        write_po(handle, template, width=100, sort_output=True, no_location=True)
    for locale in LOCALES:
        path = po_path(locale)
        if path.exists():
            catalog = _read(path, locale)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(locale=locale, project="alumail", charset="utf-8")
        catalog.update(template, no_fuzzy_matching=True)
        # The header is reviewed by the check, not by a date: no churn, and pybabel compile
        # takes it (it refuses a catalog whose header is marked fuzzy).
        catalog.fuzzy = False
        catalog.revision_date = FIXED_DATE
        catalog.last_translator = catalog.language_team = "alumail"
        with path.open("wb") as handle:
            write_po(
                handle, catalog, width=100, ignore_obsolete=True, sort_output=True, no_location=True
            )
        path.with_suffix(".mo").write_bytes(_compiled(_read(path, locale)))


def _key(message_id: object) -> str:
    return message_id if isinstance(message_id, str) else str(tuple(message_id))  # type: ignore[arg-type]


_FIELDS = re.compile(r"%\(\w+\)s|\{\w+\}")


def _fields(text: str) -> list[str]:
    """A text's placeholders (``%(name)s`` of the templates, ``{name}`` of the code)."""
    return sorted(_FIELDS.findall(text))


def problems() -> list[str]:
    """What is out of step, one line each (empty when the catalogs are complete)."""
    found: list[str] = []
    marked = {_key(m.id) for m in extract() if m.id}
    for locale in LOCALES:
        path = po_path(locale)
        if not path.exists():
            return [f"{path}: missing (run python -m provisioning.catalogs --update)"]
        catalog = _read(path, locale)
        held = {_key(m.id) for m in catalog if m.id}
        found += [f"{locale}: not in the catalog: {m!r}" for m in sorted(marked - held)]
        found += [f"{locale}: no longer marked anywhere: {m!r}" for m in sorted(held - marked)]
        for message in catalog:
            if not message.id:
                continue
            if message.fuzzy:
                found.append(f"{locale}: fuzzy: {_key(message.id)!r}")
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if not all(strings):
                found.append(f"{locale}: untranslated: {_key(message.id)!r}")
            elif _fields(str(message.id)) != _fields(str(strings[0])):
                found.append(f"{locale}: placeholders differ: {_key(message.id)!r}")
        mo = path.with_suffix(".mo")
        if not mo.exists() or mo.read_bytes() != _compiled(catalog):
            found.append(f"{locale}: {mo.name} is not compiled from {path.name}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m provisioning.catalogs")
    parser.add_argument("--update", action="store_true", help="extract, merge and compile")
    args = parser.parse_args(argv)
    if args.update:
        update()
    found = problems()
    for line in found:
        print(line, file=sys.stderr)
    if found:
        print(f"{len(found)} catalog problem(s)", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
