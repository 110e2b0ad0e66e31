"""The shape of the directory tree: where people, groups, services and policies live, and the
entries every directory starts with."""

from __future__ import annotations

from dataclasses import dataclass

from identity.passwords import PasswordPolicy

Entry = dict[str, list[str]]


def base_dn_for(domain: str) -> str:
    """``alumni.example.edu`` -> ``dc=alumni,dc=example,dc=edu``."""
    return ",".join(f"dc={label}" for label in domain.lower().split("."))


@dataclass(frozen=True)
class Tree:
    base_dn: str

    @property
    def people(self) -> str:
        return f"ou=people,{self.base_dn}"

    @property
    def groups(self) -> str:
        return f"ou=groups,{self.base_dn}"

    @property
    def staff(self) -> str:
        """Admins and helpdesk members: apart from alumni, so no rule meant for alumni (the
        helpdesk's reset and unlock) can ever reach a staff account."""
        return f"ou=staff,{self.base_dn}"

    @property
    def admins_group(self) -> str:
        return f"cn=admins,{self.groups}"

    @property
    def helpdesk_group(self) -> str:
        return f"cn=helpdesk,{self.groups}"

    @property
    def circles(self) -> str:
        """Circles of alumni (identity/circles.py): one groupOfNames entry each."""
        return f"ou=circles,{self.base_dn}"

    def circle(self, name: str) -> str:
        return f"cn={name},{self.circles}"

    @property
    def circle_placeholder(self) -> str:
        """Stands for the service in a circle's member and owner lists; no entry has it."""
        return f"cn=placeholder,{self.circles}"

    def staff_member(self, uid: str) -> str:
        return f"uid={uid},{self.staff}"

    @property
    def services(self) -> str:
        return f"ou=services,{self.base_dn}"

    @property
    def policies(self) -> str:
        return f"ou=policies,{self.base_dn}"

    @property
    def default_policy(self) -> str:
        return f"cn=default,{self.policies}"

    @property
    def readers_group(self) -> str:
        """Members may read account entries (never passwords): the mail daemons' accounts."""
        return f"cn=directory-readers,{self.groups}"

    def person(self, uid: str) -> str:
        return f"uid={uid},{self.people}"

    def service(self, name: str) -> str:
        return f"cn={name},{self.services}"


def _ou(dn: str) -> Entry:
    name = dn.split(",", 1)[0].split("=", 1)[1]
    return {"objectClass": ["organizationalUnit"], "ou": [name]}


def policy_entry(policy: PasswordPolicy) -> Entry:
    return {
        "objectClass": ["organizationalRole", "pwdPolicy"],
        "cn": ["default"],
        "pwdAttribute": ["userPassword"],
        "pwdMinLength": [str(policy.min_length)],
        # 1: accept the pre-hashed values alumail writes (its password path checks quality; an
        # admin's import keeps a legacy hash). No person or staff member can write a value of
        # their own (identity/access.py), and the constraint overlay refuses cleartext.
        "pwdCheckQuality": ["1"],
        "pwdLockout": ["TRUE"],
        "pwdMaxFailure": [str(policy.max_failure)],
        "pwdFailureCountInterval": [str(policy.failure_count_interval)],
        "pwdLockoutDuration": [str(policy.lockout_duration)],
        "pwdMustChange": ["TRUE"],
        "pwdAllowUserChange": ["TRUE"],
    }


def base_entries(tree: Tree, domain: str, policy: PasswordPolicy) -> dict[str, Entry]:
    """The entries a new directory needs, parents before children."""
    first_label = domain.lower().split(".")[0]
    return {
        tree.base_dn: {
            "objectClass": ["dcObject", "organization"],
            "dc": [first_label],
            "o": [domain.lower()],
        },
        tree.people: _ou(tree.people),
        tree.groups: _ou(tree.groups),
        tree.staff: _ou(tree.staff),
        tree.services: _ou(tree.services),
        tree.policies: _ou(tree.policies),
        tree.circles: _ou(tree.circles),
        tree.default_policy: policy_entry(policy),
    }


def service_entry(name: str, password_hash: str, description: str) -> Entry:
    return {
        "objectClass": ["applicationProcess", "simpleSecurityObject"],
        "cn": [name],
        "description": [description],
        "userPassword": [password_hash],
    }


WEB_SERVICE = "web"


def web_service_entry(tree: Tree) -> Entry:
    """The web service's directory identity. It has no password: slapd maps the service's Unix
    user (SASL EXTERNAL over ldapi) to it. ``authzTo`` lets it act as a signed-in alumnus or staff
    member (RFC 4370 proxied authorization), and as nobody else."""
    return {
        "objectClass": ["applicationProcess"],
        "cn": [WEB_SERVICE],
        "description": ["The web service: acts as signed-in people; its own rights in access.py"],
        "authzTo": [f"{{0}}dn.subtree:{tree.people}", f"{{1}}dn.subtree:{tree.staff}"],
    }


def staff_entry(uid: str, name: str, password_hash: str | None) -> Entry:
    entry = {
        "objectClass": ["inetOrgPerson"],
        "uid": [uid],
        "cn": [name],
        "sn": [name],
        "displayName": [name],
    }
    if password_hash:
        entry["userPassword"] = [password_hash]
    return entry


def group_entry(name: str, members: list[str], description: str) -> Entry:
    return {
        "objectClass": ["groupOfNames"],
        "cn": [name],
        "description": [description],
        "member": sorted(members),
    }
