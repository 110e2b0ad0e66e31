"""Plan, then apply: bring directory entries to a desired state, changing only what differs.

A plan is a list of Change values a person can read (``--dry-run`` prints it); applying an
empty plan touches nothing, so a second run reports no change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from identity.directory import Directory, Entry

# Values alumail cannot compare by reading (hashes are salted): set on creation only.
WRITE_ONCE = frozenset({"userPassword"})


@dataclass(frozen=True)
class Change:
    action: str  # "add" | "modify"
    dn: str
    attributes: dict[str, list[str]] = field(default_factory=dict)

    def describe(self) -> str:
        names = ", ".join(sorted(self.attributes))
        return f"{self.action} {self.dn}" + (f" ({names})" if self.action == "modify" else "")


def plan(directory: Directory, desired: Mapping[str, Entry]) -> list[Change]:
    changes = []
    for dn, entry in desired.items():
        current = directory.get(dn, list(entry))
        if current is None:
            changes.append(Change("add", dn, dict(entry)))
            continue
        differing = {
            attr: values
            for attr, values in entry.items()
            if attr not in WRITE_ONCE and not _same(attr, current.get(attr, []), values)
        }
        if differing:
            changes.append(Change("modify", dn, differing))
    return changes


def apply(directory: Directory, changes: list[Change]) -> None:
    for change in changes:
        if change.action == "add":
            directory.add(change.dn, change.attributes)
        else:
            directory.replace(change.dn, change.attributes)


def _same(attr: str, current: list[str], desired: list[str]) -> bool:
    if attr.lower() == "objectclass":
        return {v.lower() for v in current} >= {v.lower() for v in desired}
    return sorted(current) == sorted(desired)
