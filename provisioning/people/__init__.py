"""The use cases of people and their accounts: alumni accounts, staff, the helpdesk, passwords
and their recovery, registration against the roster of graduates, sign-in and standing, API
tokens, a person's mailbox backups."""
