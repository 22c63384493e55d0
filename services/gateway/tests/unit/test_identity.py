"""Tokens: who may act, and which tokens are refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from pydantic import ValidationError

from coaching_gateway.config import LOCAL_JWT_SECRET, GatewaySettings
from coaching_gateway.identity import (
    MANAGE_WEBHOOKS,
    IdentityProviderError,
    Role,
    TokenVerifier,
    UnauthenticatedError,
    local_token,
    mint,
)

SECRET = "unit-test-secret-long-enough-for-hs256-keys"


def _verifier(**settings: str) -> TokenVerifier:
    return TokenVerifier(GatewaySettings(**settings))


async def test_a_minted_token_names_its_user_and_role():
    user = uuid.uuid4()
    principal = await _verifier(jwt_secret=SECRET).principal(mint(SECRET, user, Role.COACH))
    assert (principal.user_id, principal.role) == (user, Role.COACH)


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": str(uuid.uuid4()), "role": "STUDENT", "exp": int(time.time()) - 3600},
        {"sub": str(uuid.uuid4()), "role": "STUDENT"},  # no exp
        {"sub": "not-a-uuid", "role": "STUDENT", "exp": int(time.time()) + 60},
        {"sub": str(uuid.uuid4()), "role": "GOD", "exp": int(time.time()) + 60},
    ],
)
async def test_expired_unbounded_or_malformed_tokens_are_refused(claims):
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    with pytest.raises(UnauthenticatedError):
        await _verifier(jwt_secret=SECRET).principal(token)


async def test_a_token_signed_with_another_secret_is_refused():
    token = mint("another-secret-that-is-also-long-enough!!", uuid.uuid4(), Role.STUDENT)
    with pytest.raises(UnauthenticatedError):
        await _verifier(jwt_secret=SECRET).principal(token)


async def test_unsigned_tokens_are_refused():
    token = jwt.encode(
        {"sub": str(uuid.uuid4()), "role": "ADMIN", "exp": int(time.time()) + 60},
        key=None,
        algorithm="none",
    )
    with pytest.raises(UnauthenticatedError):
        await _verifier(jwt_secret=SECRET).principal(token)


async def test_the_scope_claim_grants_its_scopes_as_a_string_or_a_list():
    verifier = _verifier(jwt_secret=SECRET)
    user = uuid.uuid4()
    spaced = mint(SECRET, user, Role.COACH, scopes=(MANAGE_WEBHOOKS, "other"))
    assert (await verifier.principal(spaced)).scopes == {MANAGE_WEBHOOKS, "other"}
    listed = jwt.encode(
        {"sub": str(user), "role": "COACH", "exp": int(time.time()) + 60, "scope": ["a", "b"]},
        SECRET,
        algorithm="HS256",
    )
    assert (await verifier.principal(listed)).scopes == {"a", "b"}
    assert (await verifier.principal(mint(SECRET, user, Role.COACH))).scopes == frozenset()


def test_the_local_secret_is_the_default(monkeypatch):
    monkeypatch.delenv("GATEWAY_JWT_SECRET", raising=False)
    settings = GatewaySettings()
    assert settings.jwt_secret.get_secret_value() == LOCAL_JWT_SECRET


async def test_a_local_token_is_accepted_as_its_user_and_role():
    settings = GatewaySettings(jwt_secret=SECRET)
    user = uuid.uuid4()
    token = local_token(settings, user, Role.STUDENT, scopes=(MANAGE_WEBHOOKS,))
    principal = await TokenVerifier(settings).principal(token)
    assert (principal.user_id, principal.role, principal.scopes) == (
        user,
        Role.STUDENT,
        {MANAGE_WEBHOOKS},
    )


def test_production_refuses_the_local_secret():
    with pytest.raises(ValidationError, match="GATEWAY_ENV=production"):
        GatewaySettings(env="production")
    assert GatewaySettings(env="production", jwt_secret=SECRET).env == "production"
    # An identity provider alone: HS256 switched off with an empty secret.
    GatewaySettings(env="production", jwt_secret="", jwks_url="https://idp/jwks.json")


def test_a_gateway_with_no_key_at_all_is_refused(monkeypatch):
    monkeypatch.delenv("GATEWAY_JWKS_URL", raising=False)
    with pytest.raises(ValidationError, match="no token is verifiable"):
        GatewaySettings(jwt_secret="")


async def test_issuer_and_audience_are_checked_when_configured():
    verifier = _verifier(jwt_secret=SECRET, jwt_issuer="https://idp", jwt_audience="coaching")
    good = mint(SECRET, uuid.uuid4(), Role.STUDENT, issuer="https://idp", audience="coaching")
    assert (await verifier.principal(good)).role is Role.STUDENT
    for bad in (
        mint(SECRET, uuid.uuid4(), Role.STUDENT, issuer="https://other", audience="coaching"),
        mint(SECRET, uuid.uuid4(), Role.STUDENT, issuer="https://idp"),
    ):
        with pytest.raises(UnauthenticatedError):
            await verifier.principal(bad)


# --- RS256 through a JWKS document ------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url(rsa_key) -> Iterator[str]:
    """An identity provider's JWKS document, served over HTTP on this machine."""
    jwk = json.loads(RSAAlgorithm.to_jwk(rsa_key.public_key()))
    document = json.dumps({"keys": [{**jwk, "kid": "key-1", "use": "sig", "alg": "RS256"}]})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(document.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    server.shutdown()


def _rs256(key: rsa.RSAPrivateKey, kid: str = "key-1", **claims: object) -> str:
    body = {"sub": str(uuid.uuid4()), "role": "COACH", "exp": int(time.time()) + 60, **claims}
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


async def test_an_rs256_token_is_verified_with_the_key_the_jwks_names(rsa_key, jwks_url):
    principal = await _verifier(jwks_url=jwks_url).principal(_rs256(rsa_key))
    assert principal.role is Role.COACH


async def test_an_rs256_token_from_another_key_is_refused(jwks_url):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(UnauthenticatedError):
        await _verifier(jwks_url=jwks_url).principal(_rs256(stranger))
    with pytest.raises(UnauthenticatedError):
        await _verifier(jwks_url=jwks_url).principal(_rs256(stranger, kid="unknown"))


async def test_the_public_key_cannot_be_used_as_an_hmac_secret(rsa_key, jwks_url):
    """The classic algorithm confusion: an HS256 token 'signed' with the RSA public key."""
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = {"sub": str(uuid.uuid4()), "role": "ADMIN", "exp": int(time.time()) + 60}
    # PyJWT refuses to sign with a PEM as HMAC secret; an attacker signs by hand.
    signing_input = b".".join(
        _b64(json.dumps(part).encode())
        for part in ({"alg": "HS256", "typ": "JWT", "kid": "key-1"}, claims)
    )
    signature = _b64(hmac.new(public_pem, signing_input, hashlib.sha256).digest())
    forged = (signing_input + b"." + signature).decode()
    with pytest.raises(UnauthenticatedError):
        await _verifier(jwks_url=jwks_url).principal(forged)


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


async def test_an_unreachable_jwks_is_the_providers_failure_not_the_tokens(rsa_key):
    verifier = _verifier(jwks_url="http://127.0.0.1:9/jwks.json")
    with pytest.raises(IdentityProviderError):
        await verifier.principal(_rs256(rsa_key))
