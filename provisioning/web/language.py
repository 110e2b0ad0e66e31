"""The language of the pages: chosen per request, switched by the person, remembered.

A request's language is the cookie's (the switch on every page sets it; a sign-in sets it from
the person's ``preferredLanguage``, which so wins after sign-in), else the browser's
Accept-Language (Chinese for any zh, English otherwise). The REST API and the provider's
machine endpoints stay English. The templates translate through Jinja2's i18n extension with
gettext callables that follow the request's language (one shared environment serves requests
in both languages at once, so no single Translations object is installed in it).
"""

from __future__ import annotations

from fastapi import Request
from jinja2 import Environment
from starlette.types import ASGIApp, Receive, Scope, Send

from provisioning import i18n
from provisioning.i18n import N_
from provisioning.web.audit_words import audit_word

LANGUAGE_COOKIE = "alumail_lang"
MACHINE_PREFIXES = ("/api/", "/oidc/token", "/oidc/userinfo", "/oidc/introspect", "/.well-known/")
# Values the pages show as they are stored (statuses, states), marked so they are translated.
SHOWN_VALUES = (
    N_("active"),
    N_("suspended"),
    N_("retired"),
    N_("migrating"),
    N_("pending"),
    N_("migrated"),
    N_("failed"),
)


def chosen(scope: Scope) -> str:
    """The language of this request (see the module's docstring)."""
    request = Request(scope)
    remembered = i18n.supported(request.cookies.get(LANGUAGE_COOKIE))
    if remembered:
        return remembered
    return i18n.negotiate(request.headers.get("accept-language"))


class Language:
    """Sets the language of the moment for each page request (the pages, the mails a request
    sends); the machine faces keep English."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope["path"]).startswith(MACHINE_PREFIXES):
            await self.app(scope, receive, send)
            return
        token = i18n.set_current(chosen(scope))
        try:
            await self.app(scope, receive, send)
        finally:
            i18n.reset(token)


def field_error(label: str, rule: str) -> str:
    """A field's label and its rule's words, as one sentence of the page's language."""
    text = i18n.translate_made(rule)
    if i18n.current() == i18n.CHINESE and not label[-1:].isascii():
        return f"{label}{text}"  # Chinese sets no space between two Han words
    return f"{label} {text}"


def install(env: Environment) -> None:
    env.add_extension("jinja2.ext.i18n")
    env.policies["ext.i18n.trimmed"] = True  # as babel.cfg extracts them
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n._, i18n.ngettext, newstyle=True
    )
    env.globals["made"] = i18n.translate_made
    env.globals["field_error"] = field_error
    env.filters["made"] = i18n.translate_made
    env.filters["audit_word"] = audit_word


def page_values(request: Request) -> dict[str, object]:
    """What base.html needs for ``<html lang>`` and the switch."""
    current = i18n.current()
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return {
        "lang": current,
        "here": here,
        "other_languages": [(c, i18n.LANGUAGE_NAMES[c]) for c in i18n.LANGUAGES if c != current],
    }
