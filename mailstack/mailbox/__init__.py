"""Operations on mailboxes as files and through doveadm: backups, the root helper's store,
imports from a legacy server, archives checked before they are unpacked."""
