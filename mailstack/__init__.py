"""The mail servers: rendering configs from configs/, running slapd, Dovecot and Postfix as
private instances, the IMAP/POP3/SMTP verification harness."""
