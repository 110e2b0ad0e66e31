"""The OpenID Connect provider's use cases, framework-free: the rules a client registration
and a request must follow (rules), the clients admins register (clients), the provider's
signing keys (keys), grants, codes and tokens in the service store (storage), and the protocol
itself on Authlib's server side (provider). provisioning/web/oidc.py is its HTTP face and
provisioning/cli/oidc.py its command line."""
