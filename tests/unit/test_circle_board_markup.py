"""Board posts' Markdown rendered and sanitised: every XSS payload we know of comes out as
text or as nothing, links keep only http, https and mailto, each with rel="nofollow noopener"."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from provisioning.circles.markup import ALLOWED_TAGS, render

pytestmark = pytest.mark.unit


class Elements(HTMLParser):
    """Every element and attribute in a fragment, as a browser's tokenizer would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Elements()
    parser.feed(html)
    parser.close()
    return parser.found


PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](&#x6A;avascript&colon;alert(1))",
    "[x](java\tscript:alert(1))",
    "[x]( javascript:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![x](https://tracker.example/pixel.gif)",
    '<svg onload="alert(1)"><circle/></svg>',
    "<svg><script>alert(1)</script></svg>",
    '<math><mtext><table><mglyph><style><img src=x onerror="alert(1)">',
    '<iframe src="https://evil.example"></iframe>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    "**<img src=x onerror=alert(1)>**",
    "[<img src=x onerror=alert(1)>](https://ok.example)",
    '[a](https://ok.example "x\\" onmouseover=\\"alert(1)")',
    "<!-- <script>alert(1)</script> -->",
    "```html\n<script>alert(1)</script>\n```",
    "> <details open ontoggle=alert(1)>",
    "[ref]\n\n[ref]: javascript:alert(1)",
    '<https://ok.example/"onclick="alert(1)>',
    "<javascript:alert(1)>",
    "[x](/relative/into/the/portal)",
    "[x](//evil.example/protocol-relative)",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_no_payload_survives(payload: str) -> None:
    html = render(payload)
    for tag, attributes in elements(html):
        assert tag in ALLOWED_TAGS, (tag, html)
        assert set(attributes) <= {"href", "rel", "title"}, (attributes, html)
        if tag == "a":
            assert attributes.get("rel") == "nofollow noopener", html
            href = attributes.get("href")
            if href is not None:
                assert urlsplit(href).scheme in ("http", "https", "mailto"), html
    # What is left of a payload is text: "javascript:" written out is harmless words.
    assert not any(name.startswith("on") for _, attributes in elements(html) for name in attributes)


def test_the_subset_renders() -> None:
    html = render("# Reunion\n\n**bold** _it_ `code`\n\n- one\n- two\n\n> quoted")
    assert "<h1>Reunion</h1>" in html
    assert "<strong>bold</strong>" in html and "<em>it</em>" in html
    assert "<code>code</code>" in html and "<li>one</li>" in html
    assert "<blockquote>" in html
    link = render("[site](https://alumni.example.edu/x?a=1&b=2) [me](mailto:li@example.edu)")
    assert (
        '<a href="https://alumni.example.edu/x?a=1&amp;b=2" rel="nofollow noopener">site</a>'
        in link
    )
    assert '<a href="mailto:li@example.edu" rel="nofollow noopener">me</a>' in link


def test_typed_html_stays_text() -> None:
    assert render("<b>hi</b> 校友") == "<p>&lt;b&gt;hi&lt;/b&gt; 校友</p>\n"
