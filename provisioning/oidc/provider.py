"""The OpenID Connect provider on Authlib's server side, with no web framework: requests come
in as HttpRequest (the web face builds it), answers go out as (status, body, headers).

Authlib does the protocol: the code flow, PKCE (S256 only; required of public clients),
client authentication (client_secret_basic, client_secret_post, none for public clients),
refresh tokens, revocation (RFC 7009), introspection (RFC 7662) and the signed ID token
(joserfc). This module tells it where clients, codes and tokens are (storage), who the person
is (the directory, read again at every use: a suspension, password change or removal stops
the person's tokens at their next use) and which claims each scope releases (rules).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from authlib.oauth2 import AuthorizationServer, OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    InvalidRequestError,
    OAuth2Payload,
    TokenMixin,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.rpinitiated import EndSessionEndpoint, EndSessionRequest
from joserfc.jwk import KeySet

from identity.dit import Tree
from identity.errors import NotFoundError
from identity.roles import Actor
from mailstack.context import INTROSPECTION_CLIENT
from mailstack.settings import Settings
from provisioning.audit import AuditLog
from provisioning.oidc import rules
from provisioning.oidc.clients import secret_matches
from provisioning.oidc.keys import ALGORITHMS, SigningKeys
from provisioning.oidc.logout import SessionEnd
from provisioning.oidc.mail_logins import TokenLogins
from provisioning.oidc.storage import Client, Code, OidcStore, Token
from provisioning.people.signin import SignIn
from provisioning.store import Store, new_secret

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
PERSON_ATTRIBUTES = [
    "entryUUID",
    "uid",
    "displayName",
    "cn",
    "givenName",
    "sn",
    "mail",
    "alumailGraduationYear",
    "memberOf",  # kept by slapd's memberof overlay: the person's circles (and staff groups)
]


@dataclass(frozen=True)
class HttpRequest:
    """A request as the provider needs it. ``headers`` must look names up case-insensitively
    (Starlette's Headers do; Authlib reads ``Authorization`` for client_secret_basic)."""

    method: str
    url: str
    headers: Mapping[str, str]
    query: list[tuple[str, str]] = field(default_factory=list)
    form: list[tuple[str, str]] = field(default_factory=list)


Answer = tuple[int, Any, list[tuple[str, str]]]


@dataclass(frozen=True)
class Person:
    """A signed-in person as a grant holds them: the entry (entryUUID) and its password
    (pwdChangedTime) at the time, which every later use compares with the directory."""

    uid: str
    entry_uuid: str
    password_stamp: str
    auth_time: int


def standing_person(signin: SignIn, uid: str, entry_uuid: str, stamp: str) -> Person | None:
    """``uid`` if it is still the entry, with the password, that a grant was given to, active
    and with no forced change pending; None otherwise."""
    state = signin.account_state(uid)
    if state is None or not state.active or state.must_change:
        return None
    if state.standing.entry_uuid != entry_uuid or state.standing.password_stamp != stamp:
        return None
    return Person(uid, entry_uuid, stamp, int(time.time()))


def person_claims(signin: SignIn, uid: str) -> dict[str, object]:
    """Every claim this provider can release about ``uid`` (rules.claims_for picks by scope).
    ``sub`` is the entry's entryUUID: opaque, stable across renames and aliases, and never
    given to another entry."""
    dn, _ = signin.identity_of(uid)
    with signin.open_connections() as connections:
        entry = connections.system.get(dn, PERSON_ATTRIBUTES)
    if entry is None:
        raise NotFoundError(f"no entry for '{uid}'")

    def one(name: str) -> str | None:
        values = entry.get(name) or []
        return values[0] if values else None

    return {
        "sub": one("entryUUID"),
        "name": one("displayName") or one("cn"),
        "given_name": one("givenName"),
        "family_name": one("sn"),
        "preferred_username": one("uid"),
        "email": one("mail"),
        "email_verified": bool(one("mail")),
        "graduation_year": int(year) if (year := one("alumailGraduationYear")) else None,
        "groups": circle_names(signin.tree, entry.get("memberOf", [])),
    }


def circle_names(tree: Tree, member_of: list[str]) -> list[str]:
    """The circles among ``member_of`` (DNs), by name; other groups are not released."""
    suffix = "," + tree.circles.lower()
    return sorted(
        dn.split(",", 1)[0].partition("=")[2]
        for dn in member_of
        if dn.lower().endswith(suffix) and dn.lower().startswith("cn=")
    )


# -- Authlib's models over our records ------------------------------------------------------------


class OidcClient(ClientMixin):  # type: ignore[misc]
    def __init__(self, client: Client) -> None:
        self.record = client
        self.id_token_signed_response_alg = client.id_token_alg

    def get_client_id(self) -> str:
        return self.record.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # every authorization request names its redirect URI

    def get_allowed_scope(self, scope: str | None) -> str:
        return " ".join(rules.allowed_scopes(scope, self.record.scopes))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.record.redirect_uris  # exact, character for character

    def check_client_secret(self, client_secret: str) -> bool:
        return secret_matches(self.record, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.record.public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")

    @property
    def client_metadata(self) -> dict[str, list[str]]:
        return {"post_logout_redirect_uris": list(self.record.post_logout_uris)}


class OidcCode(AuthorizationCodeMixin):  # type: ignore[misc]
    def __init__(self, code: Code) -> None:
        self.record = code

    def get_redirect_uri(self) -> str:
        return self.record.redirect_uri

    def get_scope(self) -> str:
        return self.record.scope

    def get_nonce(self) -> str | None:
        return self.record.nonce

    def get_auth_time(self) -> int:
        return self.record.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> list[str]:
        return ["pwd"]


class OidcToken(TokenMixin):  # type: ignore[misc]
    def __init__(self, token: Token, kind: str) -> None:
        self.record = token
        self.kind = kind  # "access_token" or "refresh_token": which one was presented

    def check_client(self, client: OidcClient) -> bool:
        return client.get_client_id() == self.record.client_id

    def get_scope(self) -> str:
        return self.record.scope

    def get_expires_in(self) -> int:
        return int(self.record.access_expires - self.record.created)

    def is_expired(self) -> bool:
        now = time.time()
        if self.kind == "refresh_token":
            return not self.record.refresh_expires or self.record.refresh_expires <= now
        return self.record.access_expires <= now

    def is_revoked(self) -> bool:
        if self.kind == "refresh_token" and self.record.rotated is not None:
            return True
        return self.record.revoked is not None


# -- requests --------------------------------------------------------------------------------------


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._data: dict[str, str] = {}
        self._list: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in pairs:
            self._data.setdefault(key, value)
            self._list[key].append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._list


class _Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, request: HttpRequest) -> None:
        super().__init__(method=request.method, uri=request.url, headers=request.headers)
        self.payload = _Payload(request.query + request.form)
        self._args = dict(request.query)
        self._form = dict(request.form)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


# -- the grants ------------------------------------------------------------------------------------


class _Pkce(CodeChallenge):  # type: ignore[misc]
    """S256 only: a plain challenge, or one with no method named, is refused."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]

    def get_authorization_code_challenge(self, authorization_code: OidcCode) -> str | None:
        return authorization_code.record.challenge

    def get_authorization_code_challenge_method(self, authorization_code: OidcCode) -> str | None:
        return authorization_code.record.challenge_method


class _CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    server: Provider

    def validate_authorization_request(self) -> str:
        redirect_uri: str = super().validate_authorization_request()
        data = self.request.payload.data
        state = self.request.payload.state
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError(
                "code_challenge_method must be S256", redirect_uri=redirect_uri, state=state
            )
        if self.request.client.record.public and not data.get("code_challenge"):
            raise InvalidRequestError(
                "a public client must send a PKCE code_challenge (S256)",
                redirect_uri=redirect_uri,
                state=state,
            )
        return redirect_uri

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        person: Person = request.user
        data = request.payload.data
        self.server.oidc.save_code(
            code,
            Code(
                digest="",
                client_id=request.client.get_client_id(),
                uid=person.uid,
                entry_uuid=person.entry_uuid,
                password_stamp=person.password_stamp,
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope,
                nonce=data.get("nonce"),
                challenge=data.get("code_challenge"),
                challenge_method=data.get("code_challenge_method"),
                auth_time=person.auth_time,
                expires=time.time() + rules.CODE_TTL,
                used=None,
            ),
        )

    def query_authorization_code(self, code: str, client: OidcClient) -> OidcCode | None:
        found, replayed = self.server.oidc.redeem_code(code, client.get_client_id())
        if replayed:
            self.server.cut_mail_logins()
        return OidcCode(found) if found else None

    def delete_authorization_code(self, authorization_code: OidcCode) -> None:
        """Nothing to do: redeeming marked the code used (a second use revokes its tokens)."""

    def authenticate_user(self, authorization_code: OidcCode) -> Person | None:
        code = authorization_code.record
        return self.server.person(code.uid, code.entry_uuid, code.password_stamp)


class _RefreshGrant(RefreshTokenGrant):  # type: ignore[misc]
    """Rotation: each refresh token is good once and is answered with a new one. A refresh
    token presented again revokes every token of its grant (reuse detection)."""

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True
    server: Provider

    def authenticate_refresh_token(self, refresh_token: str) -> OidcToken | None:
        found = self.server.oidc.by_refresh(refresh_token)
        if found is None:
            return None
        if found.rotated is not None:
            self.server.oidc.revoke_grant(found.grant_id)
            self.server.cut_mail_logins()
            return None
        return OidcToken(found, "refresh_token") if found.refresh_live(time.time()) else None

    def authenticate_user(self, refresh_token: OidcToken) -> Person | None:
        token = refresh_token.record
        return self.server.person(token.uid, token.entry_uuid, token.password_stamp)

    def revoke_old_credential(self, refresh_token: OidcToken) -> None:
        if not self.server.oidc.rotate(refresh_token.record):  # used by a racing request
            self.server.oidc.revoke_grant(refresh_token.record.grant_id)
            self.server.cut_mail_logins()


class _IdToken(OpenIDCode):  # type: ignore[misc]
    def __init__(self, provider: Provider) -> None:
        super().__init__(require_nonce=False)
        self.provider = provider

    def resolve_client_private_key(self, client: OidcClient) -> Any:
        return self.provider.keys.signing(client.record.id_token_alg).key

    def get_client_algorithm(self, client: OidcClient) -> str:
        return client.record.id_token_alg

    def get_encode_header(self, client: OidcClient) -> dict[str, str]:
        alg = client.record.id_token_alg
        return {"alg": alg, "kid": self.provider.keys.signing(alg).kid}

    def get_client_claims(self, client: OidcClient) -> dict[str, object]:
        return {
            "iss": self.provider.issuer,
            "aud": [client.get_client_id()],
            "exp": int(time.time()) + rules.ID_TOKEN_TTL,
        }

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return self.provider.oidc.nonce_used(request.payload.client_id, nonce)

    def generate_user_info(self, user: Person, scope: str) -> UserInfo:
        claims = person_claims(self.provider.signin, user.uid)
        return UserInfo(rules.claims_for(scope.split(), claims))


class _Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = AUTH_METHODS
    server: Provider

    def query_token(self, token_string: str, token_type_hint: str | None) -> OidcToken | None:
        return self.server.find_token(token_string, token_type_hint)

    def revoke_token(self, token: OidcToken, request: OAuth2Request) -> None:
        if token.kind == "refresh_token":
            self.server.oidc.revoke_grant(token.record.grant_id)
        else:
            self.server.oidc.revoke(token.record)


class _Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    """For resource servers: confidential clients only (a public client, or wrong credentials,
    get 401 invalid_client). Dovecot's client (INTROSPECTION_CLIENT) may introspect any token;
    any other client only the tokens issued to itself (the webmail notices its own logout so):
    another client's token is ``{"active": false}``, nothing more (RFC 7662 section 2.2)."""

    CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]
    server: Provider

    def query_token(self, token_string: str, token_type_hint: str | None) -> OidcToken | None:
        found = self.server.find_token(token_string, token_type_hint)
        if found is None:
            return None
        token = found.record
        if not token.scope.split():  # grants nothing: no resource server may honour it
            return None
        if self.server.person(token.uid, token.entry_uuid, token.password_stamp) is None:
            return None
        return found

    def check_permission(self, token: OidcToken, client: OidcClient, request: Any) -> bool:
        if client.record.public:
            return False
        return client.get_client_id() in (INTROSPECTION_CLIENT, token.record.client_id)

    def authenticate_token(self, request: OAuth2Request, client: OidcClient) -> OidcToken | None:
        """The token asked about; one Dovecot is told is active for mail is noted, so that its
        entry in Dovecot's cache goes when it expires (mail_logins)."""
        found: OidcToken | None = super().authenticate_token(request, client)
        mail_logins = self.server.mail_logins
        if (
            found is not None
            and mail_logins is not None
            and client.get_client_id() == INTROSPECTION_CLIENT
            and found.kind == "access_token"
            and not (found.is_expired() or found.is_revoked())
            and "mail" in found.record.scope.split()
        ):
            record = found.record
            mail_logins.accepted(record.uid, request.form["token"], record.access_expires)
        return found

    def introspect_token(self, token: OidcToken) -> dict[str, object]:
        record = token.record
        expires = record.refresh_expires if token.kind == "refresh_token" else None
        return {
            "active": True,
            "client_id": record.client_id,
            "token_type": "Bearer" if token.kind == "access_token" else "refresh_token",
            "scope": record.scope,
            "username": record.uid,
            "sub": record.entry_uuid,
            "iss": self.server.issuer,
            "iat": int(record.created),
            "exp": int(expires or record.access_expires),
        }


class _EndSession(EndSessionEndpoint):  # type: ignore[misc]
    """RP-initiated logout. An ``id_token_hint`` must carry our signature with one of our
    algorithms (never ``none``, never a key of the client's choosing); a post-logout redirect
    goes only to a URI the client registered, and only with a valid hint. Ending the session
    ends the provider's session of the person named (the hint's ``sub``, and the person signed
    in): SessionEnd revokes their tokens and sends the back-channel logouts."""

    server: Provider

    def get_server_jwks(self) -> KeySet:
        return KeySet([k.key for k in self.server.keys.published()])

    def get_algorithms(self) -> list[str]:
        return list(ALGORITHMS)

    def resolve_client_from_id_token_claims(self, claims: dict[str, Any]) -> OidcClient | None:
        """The client our ID token was issued to (its ``aud``: one client, as a list)."""
        aud = claims.get("aud")
        audience = [aud] if isinstance(aud, str) else aud
        if isinstance(audience, list) and len(audience) == 1 and isinstance(audience[0], str):
            return self.server.query_client(audience[0])
        return None

    def end_session(self, end_session_request: EndSessionRequest) -> None:
        subjects = set()
        claims = end_session_request.id_token_claims
        if claims and isinstance(claims.get("sub"), str):
            subjects.add(claims["sub"])
        person = end_session_request.request.user
        if isinstance(person, Person):
            subjects.add(person.entry_uuid)
        self.server.session_end.ended(entry_uuids=sorted(subjects))


# -- the server ------------------------------------------------------------------------------------


class Provider(AuthorizationServer):  # type: ignore[misc]
    def __init__(
        self,
        settings: Settings,
        store: Store,
        signin: SignIn,
        keys: SigningKeys,
        audit: AuditLog,
        session_end: SessionEnd,
        mail_logins: TokenLogins | None = None,
    ) -> None:
        """``mail_logins``: the web service's list of the tokens Dovecot accepted (None where
        nothing tells Dovecot about tokens)."""
        super().__init__(scopes_supported=list(rules.SCOPES))
        self.session_end = session_end
        self.mail_logins = mail_logins
        self.signin = signin  # who a person is now, on short connections of its own
        self.settings = settings
        self.issuer = settings.public_url.rstrip("/")
        self.oidc = OidcStore(store)
        self.keys = keys
        self.audit = audit
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda **_: new_secret(),
                refresh_token_generator=lambda **_: new_secret(),
                expires_generator=lambda client, grant_type: settings.web.access_token_ttl,
            ),
        )
        self.register_grant(_CodeGrant, [_Pkce(required=True), _IdToken(self)])
        self.register_grant(_RefreshGrant)
        self.register_endpoint(_Revocation)
        self.register_endpoint(_Introspection)
        self.register_endpoint(_EndSession)

    # Authlib's hooks ----------------------------------------------------------------------------

    def forget_app(self, actor: Actor, entry_uuid: str, client_id: str) -> bool:
        """The person (``actor``, the entry ``entry_uuid``) withdraws their consent to
        ``client_id``: the consent goes and the app's tokens for them stop. Audited."""
        with self.audit.action(actor, "oidc-app-revoke", client_id) as done:
            forgotten = self.oidc.forget_app(entry_uuid, client_id)
            done.unchanged = not forgotten
        return forgotten

    def query_client(self, client_id: str) -> OidcClient | None:
        found = self.oidc.client(client_id) if client_id else None
        return OidcClient(found) if found else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        person: Person = request.user
        if request.authorization_code is not None:
            grant_id = request.authorization_code.record.digest
        else:
            grant_id = request.refresh_token.record.grant_id
        now = time.time()
        self.oidc.save_token(
            token["access_token"],
            token.get("refresh_token"),
            Token(
                access_digest="",
                refresh_digest=None,
                grant_id=grant_id,
                client_id=request.client.get_client_id(),
                uid=person.uid,
                entry_uuid=person.entry_uuid,
                password_stamp=person.password_stamp,
                scope=token.get("scope", ""),
                created=now,
                access_expires=now + int(token["expires_in"]),
                refresh_expires=now + rules.REFRESH_TOKEN_TTL if "refresh_token" in token else None,
                revoked=None,
                rotated=None,
            ),
        )

    def create_oauth2_request(self, request: HttpRequest | OAuth2Request) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return _Request(request)

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Answer:
        return status, body, list(headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Authlib announces events (a client authenticated, a token revoked): none is used."""

    # our own ------------------------------------------------------------------------------------

    def person(self, uid: str, entry_uuid: str, stamp: str) -> Person | None:
        return standing_person(self.signin, uid, entry_uuid, stamp)

    def cut_mail_login(self, login: str, token: str) -> None:
        """One access token was revoked: Dovecot forgets it, and only it."""
        if self.mail_logins is not None:
            self.mail_logins.cut(login, token)

    def cut_mail_logins(self) -> None:
        """Tokens were revoked here: Dovecot forgets the ones it accepted."""
        if self.mail_logins is not None:
            self.mail_logins.cut_all()

    def find_token(self, value: str, hint: str | None) -> OidcToken | None:
        kinds = (
            ["refresh_token", "access_token"]
            if hint == "refresh_token"
            else [
                "access_token",
                "refresh_token",
            ]
        )
        for kind in kinds:
            found = (
                self.oidc.by_access(value)
                if kind == "access_token"
                else self.oidc.by_refresh(value)
            )
            if found is not None:
                return OidcToken(found, kind)
        return None

    def discovery(self) -> dict[str, object]:
        base = self.issuer
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/oidc/authorize",
            "token_endpoint": f"{base}/oidc/token",
            "userinfo_endpoint": f"{base}/oidc/userinfo",
            "jwks_uri": f"{base}/oidc/jwks",
            "revocation_endpoint": f"{base}/oidc/revoke",
            "introspection_endpoint": f"{base}/oidc/introspect",
            "end_session_endpoint": f"{base}/oidc/logout",
            "scopes_supported": list(rules.SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": list(ALGORITHMS),
            "token_endpoint_auth_methods_supported": AUTH_METHODS,
            "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
            "introspection_endpoint_auth_methods_supported": AUTH_METHODS[:2],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": sorted({c for cs in rules.SCOPE_CLAIMS.values() for c in cs}),
            # Logout tokens go to clients that registered a URI; ID tokens carry no ``sid``,
            # so neither do logout tokens.
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": False,
        }

    def userinfo(self, authorization: str | None) -> Answer:
        """The claims an access token's scopes release (RFC 6750 errors otherwise)."""
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return 401, {"error": "invalid_request"}, [("WWW-Authenticate", "Bearer")]
        found = self.oidc.by_access(value.strip())
        refused = (
            401,
            {"error": "invalid_token"},
            [("WWW-Authenticate", 'Bearer error="invalid_token"')],
        )
        if found is None or not found.access_live(time.time()):
            return refused
        if self.person(found.uid, found.entry_uuid, found.password_stamp) is None:
            self.oidc.revoke_grant(found.grant_id)
            return refused
        scopes = found.scope.split()
        if "openid" not in scopes:
            return (
                403,
                {"error": "insufficient_scope"},
                [("WWW-Authenticate", 'Bearer error="insufficient_scope", scope="openid"')],
            )
        claims = rules.claims_for(scopes, person_claims(self.signin, found.uid))
        return 200, claims, [("Cache-Control", "no-store")]


__all__ = ["Answer", "HttpRequest", "OAuth2Error", "Person", "Provider"]
