"""The audit trail's actions and outcomes as the consoles show them.

An audit line names its action and outcome by identifiers (``reset-password``, ``denied``),
which `alumail audit` prints and the console's filter takes. A page shows them in its
language: the identifier is the English word (its msgid), the catalog holds the Chinese one.
They carry the context ``audit`` in the catalogs, apart from the same English words
elsewhere (and the page checks know them as identifiers, shown as they are in titles, hints
and commands). An identifier not listed here (a line written by a newer or older alumail)
is shown as it is.
"""

from __future__ import annotations

from identity.markers import NC_
from provisioning import i18n

# The context of these texts in the catalogs (written out in each NC_ for extraction).
AUDIT = "audit"
WORDS = frozenset(
    {
        # Accounts and their mailboxes.
        NC_("audit", "create"),
        NC_("audit", "modify"),
        NC_("audit", "delete"),
        NC_("audit", "suspend"),
        NC_("audit", "resume"),
        NC_("audit", "retire"),
        NC_("audit", "quota"),
        NC_("audit", "alias-add"),
        NC_("audit", "alias-remove"),
        NC_("audit", "import"),
        NC_("audit", "import-offline"),
        NC_("audit", "mailbox-backup"),
        NC_("audit", "mailbox-restore"),
        NC_("audit", "backup-all"),
        NC_("audit", "restore-all"),
        NC_("audit", "migrate"),
        # Passwords and signing in.
        NC_("audit", "sign-in"),
        NC_("audit", "passwd"),
        NC_("audit", "set-password"),
        NC_("audit", "reset-password"),
        NC_("audit", "password-recovery"),
        NC_("audit", "recovery-mail"),
        NC_("audit", "unlock"),
        # Staff, tokens, the roster and legacy mailboxes.
        NC_("audit", "staff-add"),
        NC_("audit", "staff-remove"),
        NC_("audit", "staff-role"),
        NC_("audit", "staff-language"),
        NC_("audit", "token-issue"),
        NC_("audit", "token-revoke"),
        NC_("audit", "roster-import"),
        NC_("audit", "legacy-set"),
        NC_("audit", "legacy-remind"),
        # Keys and the sign-in provider.
        NC_("audit", "dkim-rotate"),
        NC_("audit", "dkim-retire"),
        NC_("audit", "oidc-client-add"),
        NC_("audit", "oidc-client-remove"),
        NC_("audit", "oidc-client-rotate-secret"),
        NC_("audit", "oidc-keys-rotate"),
        NC_("audit", "oidc-app-revoke"),
        # Circles.
        NC_("audit", "circle-create"),
        NC_("audit", "circle-activate"),
        NC_("audit", "circle-add"),
        NC_("audit", "circle-apply"),
        NC_("audit", "circle-cancel"),
        NC_("audit", "circle-approve"),
        NC_("audit", "circle-reject"),
        NC_("audit", "circle-leave"),
        NC_("audit", "circle-remove"),
        NC_("audit", "circle-hand-over"),
        NC_("audit", "circle-moderator-add"),
        NC_("audit", "circle-moderator-remove"),
        NC_("audit", "circle-board-public"),
        NC_("audit", "circle-post-hide"),
        NC_("audit", "circle-post-unhide"),
        NC_("audit", "circle-post-pin"),
        NC_("audit", "circle-post-unpin"),
        # Outcomes.
        NC_("audit", "begun"),
        NC_("audit", "ok"),
        NC_("audit", "failed"),
        NC_("audit", "denied"),
        NC_("audit", "partial"),
        NC_("audit", "unchanged"),
    }
)


def audit_word(identifier: object) -> str:
    """An action's or outcome's identifier in the language of the moment."""
    text = str(identifier)
    return i18n.translations(i18n.current()).pgettext(AUDIT, text) if text in WORDS else text
