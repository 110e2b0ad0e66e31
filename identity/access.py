"""Who may read and write what in the directory: slapd ACLs (olcAccess), rule by rule.

- root on the host (SASL EXTERNAL over ldapi) is the rootDN: unrestricted.
- password writers (root, and the web service's cn=web): the only identities that replace an
  alumnus's password, and only through alumail's password paths (a helpdesk reset, the
  alumnus's own change proven by a bind, recovery by mail), each of which checks quality,
  hashes with argon2id and writes an audit line. slapd's ppolicy marks a password written by
  root as to be changed (pwdReset) unless the write itself clears it.
- admins (cn=admins): manage alumni, staff and groups; never read or write a password hash.
  A new account still comes with its first password: slapd judges an add on the whole entry
  (the ``entry`` pseudo-attribute), not attribute by attribute.
- helpdesk (cn=helpdesk): read alumni; clear a lockout; suspend and resume (status values
  "active" and "suspended" only). No password write of its own: its reset goes through
  alumail, which forces the change. Nothing under ou=staff or ou=groups: a helpdesk member can
  neither touch an admin or another helpdesk account nor join a group.
- directory readers (the mail daemons' service accounts): read alumni entries and circles (Postfix
  expands circle addresses), no hashes.
- every person: authenticates, reads its own entry, edits its own profile fields (names, phone,
  postal address) and its language (preferredLanguage: for staff, the only field they write).
  Its password and its recovery address change only through alumail (the
  current password proven; a new recovery address confirmed by mail).
- circles (ou=circles): a listed circle is read by every signed-in identity, a hidden one by
  its members and staff only; admins and the web service write (the circle use cases decide).
- the web service (cn=web, see web_service_rules): what it does before anyone signs in; it
  is also the password writer of the portal's password paths.
"""

from __future__ import annotations

from identity import legacy
from identity.dit import WEB_SERVICE, Tree

# Fields an alumnus may edit on their own entry, straight in the directory too (the constraint
# overlay holds each to its format rule).
SELF_SERVICE_ATTRIBUTES = (
    "displayName",
    "cn",
    "givenName",
    "sn",
    "telephoneNumber",
    "postalAddress",
    "preferredLanguage",  # the language of the pages and mail (the portal's switch writes it)
)
# What binds a session or an API token to the entry it was granted against.
STANDING = ("entryUUID", "pwdChangedTime", "pwdReset", "pwdAccountLockedTime")
# Status values the helpdesk may set (retiring an account is an admin's decision).
HELPDESK_STATUSES = ("active", "suspended")


def olc_access(tree: Tree) -> list[str]:
    """The database's olcAccess rules, in the order slapd reads them."""
    return root_only_rules(tree) + web_service_rules(tree) + access_rules(tree)


def root_only_rules(tree: Tree) -> list[str]:
    """What no one but the host's root writes, whatever other rule says: before every other."""
    root_only = "(|(authzTo=*)(authzFrom=*)(pwdPolicySubentry=*))"
    return [
        # Who may act as whom (authzTo, authzFrom: proxied authorization) and which password
        # policy applies (pwdPolicySubentry) are the host root's alone. An admin who could write
        # them, on an entry or in a new one (slapd judges an add on the whole entry, so the
        # filter refuses any entry carrying one), could act as anyone, root's DN included, or
        # lift the lockout. Service identities under ou=services are root's to make.
        *(
            f'to dn.subtree="{subtree}" filter={root_only} attrs=entry by * none'
            for subtree in (tree.people, tree.staff, tree.groups, tree.circles)
        ),
        # slapd itself reads authzTo to judge a proxied authorization (with auth access).
        "to attrs=authzTo,authzFrom,pwdPolicySubentry by * auth",
    ]


def web_service_rules(tree: Tree) -> list[str]:
    """The web service's own rights, for what it does without a signed-in person: sign-in and
    recovery look-ups (login names, staff entries and role groups, lock and reset state, the
    helpdesk's view of it), registration (adding an alumnus entry, recording a legacy address),
    recovery and the password paths (replacing a password, setting or clearing pwdReset and a
    lockout), a recovery address confirmed by its link, and the migration state.
    Signed-in people are acted for by proxied authorization and judged by the rules below.
    slapd reads them before access_rules (mailstack/daemons/slapd.py). Each ends ``by * break``:
    every other identity falls through to those rules. Never read: a userPassword; never
    written: staff, groups."""
    web = f'dn.exact="{tree.service(WEB_SERVICE)}"'
    people = f'dn.subtree="{tree.people}"'
    return [
        # The password paths write with root (the CLI) or this identity (the web service); these
        # two rules must come before the catch-all below, which would let it read a hash.
        f"to {people} attrs=userPassword by {web} =w by * break",
        f"to {people} attrs=pwdReset,pwdAccountLockedTime by {web} manage by * break",
        f"to {people} attrs=alumailRecoveryEmail,{','.join(legacy.ATTRIBUTES)} "
        f"by {web} write by * break",
        # Read and search everything else, add new entries: no modify, no delete.
        f"to {people} by {web} =rscda by * break",
        # A staff member's session or token is bound to the entry and its password and lock
        # state (provisioning/people/standing.py): those are read, never a hash.
        f'to dn.subtree="{tree.staff}" attrs=entry,objectClass,uid,{",".join(STANDING)} '
        f"by {web} read by * break",
        f'to dn.subtree="{tree.groups}" attrs=entry,objectClass,member by {web} read by * break',
        # Circles are changed by the circle use cases only (provisioning/circles), after their
        # own role checks: the web service writes them for the people it acts for.
        f'to dn.subtree="{tree.circles}" by {web} write by * break',
    ]


def access_rules(tree: Tree) -> list[str]:
    admins = f'group.exact="{tree.admins_group}"'
    helpdesk = f'group.exact="{tree.helpdesk_group}"'
    readers = f'group.exact="{tree.readers_group}"'
    people = f'dn.subtree="{tree.people}"'
    statuses = "|".join(HELPDESK_STATUSES)
    return [
        # Password hashes: used to authenticate, never read; replaced only by alumail's
        # password paths.
        f"to {people} attrs=userPassword by anonymous auth by self =x by * none",
        # Staff too change their own password only through alumail (`alumail passwd`): a
        # pre-hashed value written straight to slapd would pass no quality check.
        "to attrs=userPassword by anonymous auth by self =x by * none",
        # Must the password be changed? Set and cleared by the password paths only: no staff
        # may clear it after a reset. (ppolicy sets it on root's password writes and drops it
        # on anyone else's, which is why no one else may write a password.)
        f"to {people} attrs=pwdReset by {admins} read by {helpdesk} read "
        f"by {readers} read by self read by * none",
        # Staff clear a lockout (delete); none sets one: "000001010000Z" would lock an
        # account for good, beside the audited suspension.
        f"to {people} attrs=pwdAccountLockedTime by {admins} =rscz "
        f"by {helpdesk} =rscz by {readers} read by self read by * none",
        # A retired account stays retired unless an admin says otherwise.
        f"to {people} filter=(alumailAccountStatus=retired) attrs=alumailAccountStatus "
        f"by {admins} write by {helpdesk} read by {readers} read by self read by * none",
        # A replace first deletes the old value (checked without a value: the rule below),
        # then adds the new one (checked with it: this rule for the helpdesk's values).
        f'to {people} attrs=alumailAccountStatus val.regex="^({statuses})$" '
        f"by {admins} write by {helpdesk} write by {readers} read by self read by * none",
        f"to {people} attrs=alumailAccountStatus by {admins} write by {helpdesk} =rscz "
        f"by {readers} read by self read by * none",
        f"to {people} attrs={','.join(SELF_SERVICE_ATTRIBUTES)} by {admins} write "
        f"by {helpdesk} read by {readers} read by self write by * none",
        f"to {people} by {admins} write by {helpdesk} read by {readers} read by self read "
        "by * none",
        # A staff member's language (the pages' switch stores it as it does an alumnus's): the
        # one attribute of their entry they write themselves.
        f'to dn.subtree="{tree.staff}" attrs=preferredLanguage by {admins} write '
        "by self write by * none",
        f'to dn.subtree="{tree.staff}" by {admins} write by self read by * none',
        f'to dn.subtree="{tree.groups}" by {admins} write by * none',
        # A hidden circle is seen by its members and staff only (its name, members and all);
        # a listed one by every signed-in identity. Only admins (and the service, above)
        # write: members join and leave through alumail, which checks the circle's policy.
        # A proposed circle (waiting for staff to activate it) is its owner's and staff's only.
        f'to dn.subtree="{tree.circles}" filter=(alumailCircleState=proposed) '
        f"by {admins} write by {helpdesk} read by dnattr=owner read by * none",
        # Postfix (a directory reader) expands a hidden circle's address as any other's.
        f'to dn.subtree="{tree.circles}" filter=(alumailCircleVisibility=hidden) '
        f"by {admins} write by {helpdesk} read by {readers} read by dnattr=member read "
        "by * none",
        f'to dn.subtree="{tree.circles}" by {admins} write by {helpdesk} read by users read '
        "by * none",
        f'to dn.subtree="{tree.services}" by self read by * none',
        f'to dn.base="{tree.base_dn}" by users search by * none',
        "to * by * none",
    ]


def size_limits(tree: Tree) -> list[str]:
    """olcLimits: staff search the whole of ou=people (slapd's default stops any other identity
    at 500 entries, and the web service acts as them through proxied authorization)."""
    return [
        f'group/groupOfNames/member="{group}" size=unlimited time=unlimited'
        for group in (tree.admins_group, tree.helpdesk_group)
    ]
