"""The audit trail's actions and outcomes as the consoles show them.

An audit line names its action and outcome by identifiers (``reset-password``, ``denied``),
which `alumail audit` prints and the console's filter takes. A page shows them in its
language: the identifier is the English word (its msgid), the catalog holds the Chinese one.
An identifier not listed here (a line written by a newer or older alumail) is shown as it is.
"""

from __future__ import annotations

from provisioning import i18n
from provisioning.i18n import N_

WORDS = frozenset(
    {
        # Accounts and their mailboxes.
        N_("create"),
        N_("modify"),
        N_("delete"),
        N_("suspend"),
        N_("resume"),
        N_("retire"),
        N_("quota"),
        N_("alias-add"),
        N_("alias-remove"),
        N_("import"),
        N_("import-offline"),
        N_("mailbox-backup"),
        N_("mailbox-restore"),
        N_("backup-all"),
        N_("restore-all"),
        N_("migrate"),
        # Passwords and signing in.
        N_("sign-in"),
        N_("passwd"),
        N_("set-password"),
        N_("reset-password"),
        N_("password-recovery"),
        N_("recovery-mail"),
        N_("unlock"),
        # Staff, tokens, the roster and legacy mailboxes.
        N_("staff-add"),
        N_("staff-remove"),
        N_("staff-role"),
        N_("staff-language"),
        N_("token-issue"),
        N_("token-revoke"),
        N_("roster-import"),
        N_("legacy-set"),
        N_("legacy-remind"),
        # Keys and the sign-in provider.
        N_("dkim-rotate"),
        N_("dkim-retire"),
        N_("oidc-client-add"),
        N_("oidc-client-remove"),
        N_("oidc-client-rotate-secret"),
        N_("oidc-keys-rotate"),
        N_("oidc-app-revoke"),
        # Circles.
        N_("circle-create"),
        N_("circle-activate"),
        N_("circle-add"),
        N_("circle-apply"),
        N_("circle-cancel"),
        N_("circle-approve"),
        N_("circle-reject"),
        N_("circle-leave"),
        N_("circle-remove"),
        N_("circle-hand-over"),
        N_("circle-moderator-add"),
        N_("circle-moderator-remove"),
        # Outcomes.
        N_("begun"),
        N_("ok"),
        N_("failed"),
        N_("denied"),
        N_("partial"),
        N_("unchanged"),
    }
)


def audit_word(identifier: object) -> str:
    """An action's or outcome's identifier in the language of the moment."""
    text = str(identifier)
    return i18n._(text) if text in WORDS else text
