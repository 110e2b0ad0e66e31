"""The directory connections of one command or request (provisioning.collaborators.Connections
over slapd's ldapi socket): one bind per actor, reused by every use case of that command or
request, all closed together by whoever opened them (the composition root)."""

from __future__ import annotations

from identity.directory import EXTERNAL, Credentials, Directory
from identity.errors import DirectoryError
from identity.roles import Actor


class DirectoryConnections:
    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._open: dict[object, Directory] = {}

    def _bound(self, key: object, actor: Actor | None) -> Directory:
        found = self._open.get(key)
        if found is None:
            credentials = actor.credentials if actor is not None else EXTERNAL
            found = self._open[key] = Directory(self.uri, credentials)
        return found

    @property
    def system(self) -> Directory:
        """The host's root over ldapi (SASL EXTERNAL)."""
        return self._bound(EXTERNAL, None)

    def as_actor(self, actor: Actor) -> Directory:
        # Keyed by credentials: root's actor shares the system connection.
        return self._bound(actor.credentials, actor)

    def proves(self, dn: str, password: str) -> bool:
        """True if ``password`` binds as ``dn`` (slapd's ppolicy counts a failure and locks).
        The proving connection is closed at once: it is a proof, not a session."""
        if not password:
            return False
        try:
            Directory(self.uri, Credentials(dn, password)).close()
        except DirectoryError:
            return False
        return True

    def close(self) -> None:
        for directory in self._open.values():
            directory.close()
        self._open.clear()
