"""Registration: a graduate proves who they are against the roster, chooses a UID and a
password, and confirms a recovery address; then their jAccount and 5 GiB mailbox exist, with a
welcome mail in the inbox.

Until the link mailed to the recovery address is followed, nothing is created: the pending
registration holds the password's argon2id hash (never the password) in a single-use token
that expires after a day. Confirming creates the account through the same use case as
``alumail account create``, as the service's own actor ("portal"), audited.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from identity.accounts import (
    Account,
    check_display_name,
    check_graduation_year,
    check_recovery_address,
    check_student_number,
)
from identity.directory import filter_equals
from identity.dit import Tree
from identity.errors import ConflictError, FieldErrors, ValidationError
from identity.legacy import new_holder
from identity.passwords import DEFAULT_POLICY, hash_password
from mailstack.settings import Settings
from provisioning.collaborators import MailSender
from provisioning.i18n import N_, _, speaking
from provisioning.i18n import current as current_language
from provisioning.mailer import client_settings_text
from provisioning.people import roster
from provisioning.people.accounts import AccountService
from provisioning.store import Store

CONFIRM_TTL = 24 * 3600
KIND = "register"
ROSTER_MISMATCH = N_("is not in the alumni roster")


@dataclass(frozen=True)
class RegistrationForm:
    student_number: str
    name: str
    birth_date: str
    graduation_year: str
    uid: str
    password: str
    password_again: str
    recovery_email: str


@dataclass(frozen=True)
class Started:
    recovery_email: str
    legacy_address: str | None


def _rule(errors: dict[str, str], field: str, check: object) -> object:
    try:
        return check() if callable(check) else check
    except ValidationError as error:
        errors.setdefault(field, error.rule)
        return None


class Registration:
    """``portal_accounts`` opens the portal's account use cases for one request (their
    connections closed after it)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        mailer: MailSender,
        portal_accounts: Callable[[], AbstractContextManager[AccountService]],
    ) -> None:
        self.settings = settings
        self.store = store
        self.mailer = mailer
        self.tree = Tree(settings.base_dn)
        self.portal_accounts = portal_accounts

    # -- UID availability ------------------------------------------------------------------------

    def uid_problem(self, uid: str) -> str | None:
        """Why ``uid`` cannot be chosen (the rules of `account create`), or None when free."""
        with self.portal_accounts() as accounts:
            try:
                accounts.check_new_is_free(accounts.plan_new(uid, uid))
            except ValidationError as error:
                return error.rule
            except ConflictError:
                return N_("is already taken")
        if self.store.pending_subjects(KIND, "uid", uid):
            return N_("is held by a registration waiting for its confirmation")
        return None

    # -- the two steps ---------------------------------------------------------------------------

    def start(self, form: RegistrationForm) -> Started:
        """Check everything, keep the registration pending and mail the confirmation link."""
        errors: dict[str, str] = {}
        number = _rule(errors, "student_number", lambda: check_student_number(form.student_number))
        name = _rule(errors, "name", lambda: check_display_name(form.name))
        birth = None
        if form.birth_date.strip():
            birth = _rule(errors, "birth_date", lambda: roster.check_birth_date(form.birth_date))
        year = None
        if form.graduation_year.strip():
            year = _rule(
                errors,
                "graduation_year",
                lambda: check_graduation_year(form.graduation_year),
            )
        if not form.birth_date.strip() and not form.graduation_year.strip():
            errors["birth_date"] = N_("give your date of birth or your graduation year")
        uid = form.uid.strip()
        problem = self.uid_problem(uid)
        if problem:
            errors["uid"] = problem
        _rule(errors, "password", lambda: DEFAULT_POLICY.check(form.password, uid=uid))
        if form.password != form.password_again:
            errors.setdefault("password_again", N_("must be the same password again"))
        recovery = _rule(
            errors,
            "recovery_email",
            lambda: check_recovery_address(form.recovery_email, self.settings.domain),
        )
        if errors:
            raise FieldErrors(errors)

        assert isinstance(number, str) and isinstance(name, str) and isinstance(recovery, str)
        graduate = roster.lookup(self.store, number)
        if graduate is None:
            raise ValidationError("student_number", ROSTER_MISMATCH)
        # Each wrong answer under its own field (the per-number attempt limit of the web
        # service keeps this from becoming a way to guess a roster entry one field at a time).
        wrong = roster.mismatch(
            graduate,
            name,
            birth if isinstance(birth, str) else None,
            year if isinstance(year, int) else None,
        )
        if wrong is not None:
            raise ValidationError(*wrong)
        if graduate.registered_uid is not None or self._has_account(number):
            raise ConflictError("student_number: this graduate has registered a jAccount already")

        payload = {
            "student_number": number,
            "uid": uid,
            "name": graduate.name,
            "graduation_year": graduate.graduation_year,
            "recovery_email": recovery,
            "password_hash": hash_password(form.password),
            "language": current_language(),  # of the page: the welcome mail's and the entry's
        }
        token = self.store.issue(KIND, number, payload, CONFIRM_TTL)
        link = f"{self.settings.public_url}/register/confirm?token={token}"
        self.mailer.send(
            recovery,
            _("Confirm your alumni jAccount registration"),
            _(
                "Hello {name},\n\n"
                "to finish registering the jAccount '{uid}', open this link within 24 hours:\n\n"
                "{link}\n\n"
                "If you did not ask for this, ignore this message: nothing is created without it.\n"
            ).format(name=graduate.name, uid=uid, link=link),
        )
        return Started(recovery, graduate.legacy_address)

    def pending(self, token: str) -> dict[str, object] | None:
        """What a confirmation link would create (for the page that asks to confirm)."""
        found = self.store.peek(KIND, token)
        if found is None:
            return None
        return {k: v for k, v in found.payload.items() if k != "password_hash"}

    def registered_by(self, token: str) -> str | None:
        """The UID a confirmation link created, when it was followed and the registration is
        done (a second visit says so rather than asking to register again); None otherwise."""
        found = self.store.spent(KIND, token)
        if found is None:
            return None
        graduate = roster.lookup(self.store, found.subject)
        uid = found.payload.get("uid")
        if graduate is None or graduate.registered_uid is None or graduate.registered_uid != uid:
            return None
        return graduate.registered_uid

    def confirm(self, token: str) -> Account:
        """Create the jAccount and mailbox, record the registration, send the welcome mail."""
        found = self.store.consume(KIND, token)
        if found is None:
            raise ValidationError("token", N_("this confirmation link is not valid or has expired"))
        data = found.payload
        number = str(data["student_number"])
        graduate = roster.lookup(self.store, number)
        if graduate is None or graduate.registered_uid is not None or self._has_account(number):
            raise ConflictError("student_number: this graduate has registered a jAccount already")
        profile: dict[str, Any] = {
            "recovery_email": data["recovery_email"],
            "student_number": number,
        }
        if data.get("graduation_year"):
            profile["graduation_year"] = data["graduation_year"]
        if graduate.class_code:  # the roster's at confirmation time: it proves the class circle
            profile["class_code"] = graduate.class_code
        if data.get("language"):
            profile["preferred_language"] = data["language"]
        with self.portal_accounts() as accounts:
            account = accounts.create(
                str(data["uid"]),
                str(data["name"]),
                None,
                password_hash=str(data["password_hash"]),
                **profile,
            )
            roster.mark_registered(self.store, number, account.uid)
            if graduate.legacy_address:
                # Listed as a legacy holder: migration and the cutoff start from here.
                accounts.connections.system.replace(
                    self.tree.person(account.uid), new_holder(graduate.legacy_address)
                )
        with speaking(account.preferred_language):
            self.mailer.send(
                account.mail, _("Welcome to your alumni mailbox"), self.welcome(account, graduate)
            )
        return account

    def welcome(self, account: Account, graduate: roster.Graduate) -> str:
        text = _(
            "Hello {name},\n\n"
            "your jAccount '{uid}' is ready, and {mail} is your address for life.\n\n"
            "Mail client settings:\n{settings}\n\n"
            "Manage your account at {url}/account\n"
        ).format(
            name=account.display_name,
            uid=account.uid,
            mail=account.mail,
            settings=client_settings_text(self.settings, account.uid),
            url=self.settings.public_url,
        )
        if graduate.legacy_address:
            text += _(
                "\nYour old lifelong mailbox {legacy} will be retired. Its mail will be moved "
                "into this mailbox; you will be told before it happens.\n"
            ).format(legacy=graduate.legacy_address)
        return text

    def _has_account(self, student_number: str) -> bool:
        with self.portal_accounts() as accounts:
            return bool(
                accounts.connections.system.search(
                    self.tree.people,
                    filter_equals("alumailStudentNumber", student_number),
                    ["uid"],
                    scope="one",
                )
            )
