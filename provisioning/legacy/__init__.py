"""Retiring the legacy lifelong mailboxes: who holds one (holders), moving their mail
(migration), and the reminders before the cutoff."""
