"""Who may read and write what in the directory: slapd ACLs (olcAccess), rule by rule.

- root on the host (SASL EXTERNAL over ldapi) is the rootDN: unrestricted.
- admins (cn=admins): manage alumni, staff and groups; never read a password hash.
- helpdesk (cn=helpdesk): read alumni; replace an alumnus's password, force a change at next
  login, clear a lockout, suspend and resume. Nothing under ou=staff or ou=groups: a helpdesk
  member can neither touch an admin or another helpdesk account nor join a group.
- directory readers (the mail daemons' service accounts): read alumni entries, no hashes.
- every person: authenticates, reads its own entry, replaces its own password, edits its own
  profile fields (names, recovery address).
- the web service (cn=web, see web_service_rules): what it does before anyone signs in.
"""

from __future__ import annotations

from identity.dit import WEB_SERVICE, Tree

# Fields an alumnus may edit on their own entry.
SELF_SERVICE_ATTRIBUTES = (
    "displayName",
    "cn",
    "givenName",
    "sn",
    "alumailRecoveryEmail",
    "telephoneNumber",
    "postalAddress",
)
# What the helpdesk may change on an alumnus (operational lock attributes included).
HELPDESK_ATTRIBUTES = ("pwdReset", "pwdAccountLockedTime", "alumailAccountStatus")


def web_service_rules(tree: Tree) -> list[str]:
    """The web service's own rights, for what it does without a signed-in person: sign-in and
    recovery look-ups (login names, staff entries and role groups, lock and reset state, the
    helpdesk's view of it), registration (adding an alumnus entry, recording a legacy address),
    recovery (replacing the password, clearing pwdReset and a lockout), a recovery address
    confirmed by its link, and the migration state.
    Signed-in people are acted for by proxied authorization and judged by the rules below.
    slapd reads them before access_rules (mailstack/slapd.py). Each ends ``by * break``: every
    other identity falls through to those rules. Never read: a userPassword; never written:
    staff, groups."""
    web = f'dn.exact="{tree.service(WEB_SERVICE)}"'
    people = f'dn.subtree="{tree.people}"'
    return [
        f"to {people} attrs=userPassword by {web} =w by * break",
        f"to {people} attrs=pwdReset,pwdAccountLockedTime by {web} manage by * break",
        f"to {people} attrs=alumailRecoveryEmail,alumailLegacyAddress,alumailLegacyState "
        f"by {web} write by * break",
        # Read and search everything else, add new entries: no modify, no delete.
        f"to {people} by {web} =rscda by * break",
        f'to dn.subtree="{tree.staff}" attrs=entry,objectClass,uid by {web} read by * break',
        f'to dn.subtree="{tree.groups}" attrs=entry,objectClass,member by {web} read by * break',
    ]


def access_rules(tree: Tree) -> list[str]:
    admins = f'group.exact="{tree.admins_group}"'
    helpdesk = f'group.exact="{tree.helpdesk_group}"'
    readers = f'group.exact="{tree.readers_group}"'
    people = f'dn.subtree="{tree.people}"'
    return [
        # Password hashes: used to authenticate, replaced by their owner or by staff, never read.
        f"to {people} attrs=userPassword by {admins} =w by {helpdesk} =w by self =xw "
        "by anonymous auth by * none",
        "to attrs=userPassword by self =xw by anonymous auth by * none",
        f"to {people} attrs={','.join(HELPDESK_ATTRIBUTES)} by {admins} manage "
        f"by {helpdesk} manage by {readers} read by self read by * none",
        f"to {people} attrs={','.join(SELF_SERVICE_ATTRIBUTES)} by {admins} write "
        f"by {helpdesk} read by {readers} read by self write by * none",
        f"to {people} by {admins} write by {helpdesk} read by {readers} read by self read "
        "by * none",
        f'to dn.subtree="{tree.staff}" by {admins} write by self read by * none',
        f'to dn.subtree="{tree.groups}" by {admins} write by * none',
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
