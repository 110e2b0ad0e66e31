"""The jAccount directory: schema names, the LDAP client, password hashing and policy,
accounts and their rules. Knows nothing about mail daemons."""
