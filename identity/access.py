"""Who may read and write what in the directory: slapd ACLs (olcAccess), rule by rule.

Roles so far: the host's root (SASL EXTERNAL over ldapi, the rootDN: administers everything),
the members of the directory-readers group (read account entries, never a password), and each
person (authenticates; reads its own entry; replaces its own password).
"""

from __future__ import annotations

from identity.dit import Tree


def access_rules(tree: Tree) -> list[str]:
    readers = f'group.exact="{tree.readers_group}"'
    return [
        # Password hashes: only used to authenticate, replaced by their owner, never read.
        "to attrs=userPassword by self =xw by anonymous auth by * none",
        f'to dn.subtree="{tree.people}" by {readers} read by self read by * none',
        f'to dn.subtree="{tree.services}" by self read by * none',
        f'to dn.base="{tree.base_dn}" by {readers} search by users search by * none',
        "to * by * none",
    ]
