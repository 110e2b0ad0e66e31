"""``N_``: the no-op marker of a text made here in English and translated where it is shown.

A rule's words (a ValidationError's ``rule``) are made deep in the use cases, which speak
English to every face; the pages and mails translate them (provisioning/i18n.py), the CLI and
the REST API keep them English. Marking them here is what lets ``pybabel extract`` (babel.cfg)
find them. A text with values keeps them as ``{name}`` fields, filled with ``str.format``, so
the face can find the values again and fill the translated text with them.
"""

from __future__ import annotations


def N_(text: str) -> str:
    return text


def NC_(context: str, text: str) -> str:
    """``N_`` for a text that needs its context to be told apart (``NC_("audit", "create")``,
    an audit action's identifier, is not the word of a button): pgettext finds it."""
    del context
    return text
