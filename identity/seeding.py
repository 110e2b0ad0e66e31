"""What every directory holds before anyone is provisioned, and bringing a running directory in
line with it at each ``up``: the base tree and its password policy, the mail daemons' service
accounts in the readers group, and the web service's identity. The entries' shapes are in
:mod:`identity.dit`, the rights they are given in :mod:`identity.access`."""

from __future__ import annotations

from collections.abc import Mapping

from identity import converge
from identity.directory import Directory, can_bind
from identity.dit import (
    WEB_SERVICE,
    Entry,
    Tree,
    base_entries,
    group_entry,
    service_entry,
    web_service_entry,
)
from identity.passwords import DEFAULT_POLICY, hash_secret

# The mail daemons' own directory accounts: members of the readers group, never of people.
SERVICE_ACCOUNTS = {
    "dovecot": "Dovecot: finds accounts and mailboxes; passwords are checked by binding as them",
    "postfix": "Postfix: finds mailboxes, aliases and which login owns a sender address",
}


def seed_entries(tree: Tree, domain: str, service_passwords: Mapping[str, str]) -> dict[str, Entry]:
    """The seeded entries, parents before children, each service account with the hash of its
    bind secret (``service_passwords``: account name to secret)."""
    desired = base_entries(tree, domain, DEFAULT_POLICY)
    for name, description in SERVICE_ACCOUNTS.items():
        desired[tree.service(name)] = service_entry(
            name, hash_secret(service_passwords[name]), description
        )
    desired[tree.service(WEB_SERVICE)] = web_service_entry(tree)
    desired[tree.readers_group] = group_entry(
        "directory-readers",
        [tree.service(name) for name in SERVICE_ACCOUNTS],
        "May read account entries, never passwords",
    )
    return desired


def seed(
    directory: Directory,
    tree: Tree,
    domain: str,
    service_passwords: Mapping[str, str],
    *,
    bind_uri: str,
) -> list[str]:
    """Plan and apply the seeded entries through ``directory`` (root's connection); what was
    changed, for the caller to say. A service secret that no longer binds at ``bind_uri`` (where
    the mail daemons bind: restored state, a rotated file) is set again."""
    changes = converge.plan(directory, seed_entries(tree, domain, service_passwords))
    converge.apply(directory, changes)
    actions = [change.describe() for change in changes]
    for name in SERVICE_ACCOUNTS:
        dn = tree.service(name)
        if not can_bind(bind_uri, dn, service_passwords[name]):
            directory.replace(dn, {"userPassword": [hash_secret(service_passwords[name])]})
            actions.append(f"reset the bind secret of {dn}")
    return actions
