"""Running the service: backing up and restoring the whole stack, verifying the login paths,
rotating the DKIM signing keys."""
