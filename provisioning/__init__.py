"""The service: account and mailbox lifecycle, the CLI (and, later, the HTTP API, registration,
helpdesk, import and migration). Use cases live here; the faces only parse, call and present."""
