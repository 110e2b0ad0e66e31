"""The two languages: the catalogs are complete and in step with the code, every text of the
templates is marked for translation, a browser's Accept-Language picks the language, and the
rules' English words made deep in the use cases come out in Chinese at the face."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from jinja2 import Environment, FileSystemLoader

from identity.accounts import check_display_name, check_uid
from identity.errors import AccessDeniedError, ValidationError
from identity.markers import N_
from identity.passwords import DEFAULT_POLICY
from identity.roles import Actor, Role
from mailstack.settings import build
from provisioning import catalogs, i18n
from provisioning.audit import AuditLog
from provisioning.legacy.reminders import CutoffReminders, Reminder
from provisioning.people.lookups import require
from provisioning.store import Store
from provisioning.web import audit_words, language

pytestmark = pytest.mark.unit
TEMPLATES = Path(language.__file__).parent / "templates"
# What a page may show untranslated: names, units, formats and punctuation.
AS_IS = {"jAccount", "GiB", "alumail", "YYYY-MM-DD", "MiB"}


def test_catalogs_are_complete_and_in_step_with_the_code() -> None:
    """The same check as `make lint`: nothing marked is missing, untranslated or fuzzy, no
    stale entry, placeholders kept, the .mo compiled from the .po."""
    assert catalogs.problems() == []


def _bare_texts(name: str) -> list[str]:
    """The words a template shows outside any {% trans %}, _() or other expression."""
    env = Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
    source = (TEMPLATES / name).read_text(encoding="utf-8")
    shown: list[str] = []
    depth = 0
    for _line, kind, value in env.lex(source):
        if kind == "name" and value in ("trans", "endtrans"):
            depth += 1 if value == "trans" else -1
        shown.append(value if kind == "data" and depth == 0 else "\x00")
    text = re.sub(r"<[^>]*>", " ", "".join(shown))
    return [w for w in re.findall(r"[A-Za-z][A-Za-z'-]+", text) if w not in AS_IS]


@pytest.mark.parametrize("name", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_every_text_of_a_template_is_marked(name: str) -> None:
    assert _bare_texts(name) == []


def test_the_check_finds_a_text_left_unmarked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "page.html").write_text(
        '<p class="x">{{ _("Sign in") }} · Register</p>{% trans %}Welcome{% endtrans %}'
    )
    monkeypatch.setattr(f"{__name__}.TEMPLATES", tmp_path)
    assert _bare_texts("page.html") == ["Register"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", i18n.CHINESE),
        ("zh-Hans", i18n.CHINESE),
        ("zh-TW", i18n.CHINESE),
        ("zh", i18n.CHINESE),
        ("en-US,en;q=0.9,zh-CN;q=0.8", i18n.ENGLISH),
        ("fr-FR,zh;q=0.5", i18n.CHINESE),
        ("fr-FR,de;q=0.5", i18n.ENGLISH),
        ("zh;q=0, en", i18n.ENGLISH),
        ("", i18n.ENGLISH),
        (None, i18n.ENGLISH),
        ("zh;q=bogus,en;q=0.1", i18n.ENGLISH),
        ("zh;q=0.9x,en;q=0.1", i18n.ENGLISH),  # the whole parameter, or it is ignored
        ("zh;q=0.9\nq=1,en;q=0.1", i18n.ENGLISH),
        ("\x00\x01;;;,,,", i18n.ENGLISH),
    ],
)
def test_accept_language_picks_the_language(header: str | None, expected: str) -> None:
    assert i18n.negotiate(header) == expected


def _rule(check: object) -> str:
    with pytest.raises(ValidationError) as caught:
        check()  # type: ignore[operator]
    return caught.value.rule


def test_rules_are_english_for_the_machine_faces_and_chinese_on_a_chinese_page() -> None:
    too_long = _rule(lambda: check_display_name("x" * 200, field="name"))
    assert too_long == "must be at most 128 characters"
    assert i18n.translate_made(too_long) == too_long  # the CLI and the API: English
    with i18n.speaking(i18n.CHINESE):
        assert i18n.translate_made(too_long) == "最多 128 个字符"
        assert i18n.translate_made(_rule(lambda: check_uid("Ab"))) == "长度须为 3 至 32 个字符"
        assert (
            i18n.translate_made(
                "csrf_token: this form has expired or came from another site; reload the page"
            )
            == "表单已过期或来自其他网站，请刷新页面后重试"
        )
        assert i18n.translate_made("uid: must be lowercase") == "uid: 须为小写"
        first_rule = DEFAULT_POLICY.describe()[0]
        assert i18n.translate_made(first_rule).startswith("长度为")
        assert language.field_error("密码", "must not contain the UID") == "密码不能包含用户名"
        # A value that appears twice must be the same value twice.
        login = "Login name: {uid} (or {uid}@{domain}), with your jAccount password."
        made = login.format(uid="wu", domain="a.example")
        assert (
            i18n.translate_made(made) == "登录名：wu（或 wu@a.example），密码为您的 jAccount 密码。"
        )
        other = "Login name: wu (or li@a.example), with your jAccount password."
        assert i18n.translate_made(other) == other
        # Text no catalog holds stays as it is (never a wrong translation).
        assert i18n.translate_made("something new") == "something new"
    assert i18n.current() == i18n.ENGLISH


def _refusal(action: Callable[[], None]) -> str:
    with pytest.raises(AccessDeniedError) as refused:
        action()
    return str(refused.value)


def test_a_refusal_names_the_role_and_the_action_in_the_page_language() -> None:
    alumnus = Actor("admin", Role.ALUMNUS)  # a UID that spells a word of the catalog
    made = _refusal(lambda: require(alumnus, False, N_("delete accounts")))
    assert made == "admin (alumnus) may not delete accounts"  # the CLI and the API: English
    staff = _refusal(
        lambda: require(
            Actor("hd.li", Role.HELPDESK),
            False,
            N_("modify account '{uid}'").format(uid="helpdesk"),
        )
    )
    with i18n.speaking(i18n.CHINESE):
        # The role word and the action are ours, translated; the UIDs are data, kept.
        assert i18n.translate_made(made) == "admin (校友) 无权删除账户"
        assert i18n.translate_made(staff) == "hd.li (服务台) 无权修改账户“helpdesk”"
        # An action the catalog does not hold stays as it was made, whole.
        unknown = _refusal(lambda: require(alumnus, False, "fly"))
        assert i18n.translate_made(unknown) == "admin (校友) 无权fly"
        # Root and the services are named without a role.
        odd = _refusal(lambda: require(Actor("x", Role.SYSTEM), False, N_("list staff")))
        assert i18n.translate_made(odd) == "x 无权列出工作人员"


def test_a_stored_preference_chooses_the_language_of_a_mail() -> None:
    with i18n.speaking("zh-Hans"):
        assert i18n._("Welcome to your alumni mailbox") == "欢迎使用校友邮箱"
    with i18n.speaking(None):  # none stored: the language of the moment
        assert i18n._("Welcome to your alumni mailbox") == "Welcome to your alumni mailbox"
    assert i18n.supported("fr") is None and i18n.supported("x" * 40) is None


def test_templates_render_in_both_languages() -> None:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)
    language.install(env)
    values = {
        "domain": "alumni.example.edu",
        "lang": "",
        "other_languages": [],
        "here": "/",
        "errors": {},
        "form": {},
        "policy": DEFAULT_POLICY.describe(),
    }
    with i18n.speaking(i18n.CHINESE):
        page = env.get_template("register.html").render(**values)
    assert "注册您的 jAccount" in page and "长度为 10 至 128 个字符" in page
    assert "Register your jAccount" in env.get_template("register.html").render(**values)


class _Outbox:
    """A MailSender that keeps what it is given."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def send(self, to: str, subject: str, body: str) -> None:
        self.sent.append((to, subject, body))


def test_legacy_reminders_go_out_in_each_holders_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = build({"legacy.cutoff": "2031-06-30"}, base=tmp_path)
    outbox = _Outbox()
    reminders = CutoffReminders(
        settings,
        Store.for_state(tmp_path),
        None,  # type: ignore[arg-type]  # the directory: `due` is replaced below
        outbox,
        AuditLog(tmp_path / "audit.jsonl"),
    )
    due = [
        Reminder("zhang.wei", 7, ("zhang.wei@alumni.example",), "zh-CN"),
        Reminder("john.doe", 7, ("john.doe@alumni.example",), ""),
    ]
    monkeypatch.setattr(reminders, "due", lambda today: due)
    reminders.send(datetime.date(2031, 6, 23), dry_run=False)
    (_to, subject, body), (_to2, english, _body2) = outbox.sent
    assert subject == "您的旧校友邮箱将于 2031-06-30 关闭" and "不超过 7 天" in body
    assert english == "Your old alumni mailbox closes on 2031-06-30"


@pytest.mark.parametrize("lang", [i18n.ENGLISH, i18n.CHINESE])
def test_values_in_translated_texts_are_escaped(lang: str) -> None:
    """A translated text may hold markup (<strong>); the values put into it never do."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)
    language.install(env)
    values = {"domain": "d", "lang": lang, "other_languages": [], "here": "/"}
    with i18n.speaking(lang):
        page = env.get_template("register_sent.html").render(
            address="<script>x</script>", legacy="<i>", **values
        )
    assert "<strong>&lt;script&gt;x&lt;/script&gt;</strong>" in page
    assert "<script>" not in page and "<strong>&lt;i&gt;</strong>" in page


def test_every_audited_action_has_its_words_in_both_languages() -> None:
    """An action the code audits under a fixed name is listed, so the consoles show it in
    Chinese too (a new one fails here until it is added to audit_words.WORDS)."""
    root = Path(__file__).resolve().parents[2] / "provisioning"
    named = re.compile(r"""(?:audited|\.action)\(\s*(?:[\w.]+,\s*)?"([a-z0-9-]+)\"""")
    found = {name for source in root.rglob("*.py") for name in named.findall(source.read_text())}
    assert len(found) > 30  # the pattern still finds them
    assert found <= audit_words.WORDS, sorted(found - audit_words.WORDS)
    with i18n.speaking(i18n.CHINESE):
        assert audit_words.audit_word("reset-password") == "重置密码"
        assert audit_words.audit_word("denied") == "被拒绝"
        assert audit_words.audit_word("zhang.wei") == "zhang.wei"  # not a word of ours
    assert audit_words.audit_word("reset-password") == "reset-password"


def test_a_reason_inside_a_made_text_is_translated_too() -> None:
    """A CSV file's refusal nests a reason in a row's text; the csv module's own words stay."""
    reason = N_("is not valid CSV ({detail})").format(detail="field larger than field limit")
    made = N_("{reason}; the rows after it were not read").format(reason=reason)
    with i18n.speaking(i18n.CHINESE):
        assert i18n.translate_made(made) == (
            "不是有效的 CSV（field larger than field limit）；其后的行未读取"
        )
        line = N_("line {line}: {reason}").format(line=7, reason=N_("is not valid UTF-8 text"))
        assert i18n.translate_made(line) == "第 7 行：不是有效的 UTF-8 文本"
