"""Key material the daemons are configured with: the TLS certificate and its CA, the DKIM
signing keys and the records that publish them."""
