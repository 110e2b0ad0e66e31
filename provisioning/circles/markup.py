"""Board posts in a safe Markdown subset, rendered to HTML twice guarded.

1. markdown-it-py (CommonMark) with raw HTML off: ``<script>`` typed in a post stays text, and
   its link validator already drops ``javascript:``, ``vbscript:``, ``file:`` and ``data:``
   links. Images are off (no remote pixels tracking readers, no ``data:`` payloads).
2. nh3 (the Ammonia sanitiser) over the result, with an allow-list of the tags CommonMark
   makes, ``href`` as the only attribute worth keeping, only absolute ``http``, ``https`` and
   ``mailto`` links, and ``rel="nofollow noopener"`` on every link. Anything the first step
   lets through by a bug of its own is cut here.

What is stored is the author's Markdown (they edit it) and this HTML (pages and the API show
it): rendering once per write, not per read.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "p", "br", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a", "hr",
    "h1", "h2", "h3", "h4", "h5", "h6",
}  # fmt: skip
LINK_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "nofollow noopener"

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).disable("image")


def _keep(tag: str, attribute: str, value: str) -> str | None:
    """Only absolute links of the allowed schemes: a relative one would point into the
    portal itself (and nh3 passes relative URLs through by default)."""
    if attribute == "href":
        scheme = urlsplit(value.strip()).scheme.lower()
        return value if scheme in LINK_SCHEMES else None
    return value


def render(markdown: str) -> str:
    """The post's HTML: only the allowed tags, no raw HTML, no script, no unsafe link."""
    html = _markdown.render(markdown)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes={"a": {"href"}},
        url_schemes=LINK_SCHEMES,
        link_rel=LINK_REL,
        attribute_filter=_keep,
        strip_comments=True,
    )
