"""aauth 0.5.0 (the AAuth -11 line of PyPI's `aauth`) as two loopback servers in one process.

https://agent.localhost     an agent provider: /.well-known/aauth-agent.json and its JWKS, and
                            one agent, aauth:smoke@agent.localhost, holding an agent token the
                            provider issued (aa-agent+jwt; both keys Ed25519; `ps` names
                            https://ps.localhost). The library has no HTTP client of its own, so
                            POST /_test/call is the test's handle on the agent: it signs the
                            request it is given with aauth's AgentRequestSigner (scheme jwt) and
                            sends it; GET /_test/agent shows the agent's token and key.
                            aauth 0.5.0 writes the Signature value as unpadded base64url, which
                            RFC 8941 parsers (regent-httpsig, introspection-aauth) refuse; with
                            "signer": "regent" the same key and agent token sign through
                            regent-httpsig's EgressSigner.sign_aauth instead (standard base64).
https://resource.localhost  a resource: /.well-known/aauth-resource.json, its JWKS, and
                            /protected, verified with aauth's RequestVerifier. Unsigned: 401 with
                            ChallengeBuilder's AAuth-Requirement; signed but refused: 401 with
                            Signature-Error from build_signature_error and a problem+json body.

Usage: python aauth_app.py   (names, ports and TLS from the environment: see loopback.py)
"""

import json

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

import aauth
from aauth.metadata.common import validate_metadata
from regent_httpsig import EgressSigner
from regent_httpsig.jwk import b64url

import loopback

AGENT_PROVIDER = "https://agent.localhost"
RESOURCE = "https://resource.localhost"
PERSON_SERVER = "https://ps.localhost"
AGENT_ID = "aauth:smoke@agent.localhost"


def jwk_of(private_key):
    public = aauth.public_key_to_jwk(private_key.public_key())
    return {**public, "kid": aauth.calculate_jwk_thumbprint(public)}


# --- the agent provider and its agent ---------------------------------------------------------
provider_key, _ = aauth.generate_ed25519_keypair()
provider_jwk = jwk_of(provider_key)
agent_key, _ = aauth.generate_ed25519_keypair()
agent_jwk = aauth.public_key_to_jwk(agent_key.public_key())
agent_token = aauth.create_agent_token(
    AGENT_PROVIDER, AGENT_ID, agent_jwk, provider_key, provider_jwk["kid"], ps=PERSON_SERVER
)
signer = aauth.AgentRequestSigner(agent_key, agent_id=AGENT_ID, agent_token=agent_token)
# The same key, for the RFC 8941-conformant signer (see the module's docstring).
regent_signer = EgressSigner(seed=b64url(agent_key.private_bytes_raw()), signature_agent=AGENT_PROVIDER)

agent_app = FastAPI()


@agent_app.get("/.well-known/aauth-agent.json")
def agent_metadata():
    return aauth.generate_agent_metadata(
        AGENT_PROVIDER, f"{AGENT_PROVIDER}/jwks.json", client_name="aauth 0.5.0 smoke agent provider"
    )


@agent_app.get("/jwks.json")
def agent_jwks():
    return aauth.generate_jwks([provider_jwk])


@agent_app.get("/_test/agent")
def agent_info():
    return {
        "agent_id": AGENT_ID,
        "agent_token": agent_token,
        "jwk": agent_jwk,
        "jkt": aauth.calculate_jwk_thumbprint(agent_jwk),
    }


@agent_app.post("/_test/call")
def agent_call(order: dict):
    """Sign and send {method, url, headers?, body?, token?, role?, signer?}: `token` replaces the
    agent token (a person or auth token); with aauth's signer, `role` "ps"/"as" covers content-type
    and content-digest; `signer` "regent" signs with regent-httpsig (which covers them whenever
    there is a body)."""
    method = order.get("method", "GET").upper()
    url = order["url"]
    headers = dict(order.get("headers") or {})
    body = order["body"].encode() if order.get("body") is not None else None
    token = order.get("token") or agent_token
    if order.get("signer", "aauth") == "regent":
        headers = regent_signer.sign_aauth(method, url, headers, token=token, body=body)
    else:
        headers.update(
            signer.sign_request(method, url, headers, body, token=token, recipient_role=order.get("role", "resource"))
        )
    try:
        with loopback.client() as http:
            res = http.request(method, url, headers=headers, content=body)
    except httpx.TransportError as exc:  # unmapped name, refused connection, TLS failure
        return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, status_code=502)
    try:
        parsed = res.json()
    except ValueError:
        parsed = None
    return {
        "status": res.status_code,
        "headers": {k.lower(): v for k, v in res.headers.items()},
        "body": res.text,
        "json": parsed,
        "sent": headers,
    }


# --- the resource -----------------------------------------------------------------------------
resource_key, _ = aauth.generate_ed25519_keypair()
resource_jwk = jwk_of(resource_key)
_jwks_cache = {}


def fetch_jwks(identifier, dwk, kid=None):
    """aauth's verifier calls this synchronously: {identifier}/.well-known/{dwk}, checked with
    aauth's own metadata rules, then its jwks_uri (cached; fetched again for an unknown kid)."""
    cached = _jwks_cache.get((identifier, dwk))
    if cached and (kid is None or any(k.get("kid") == kid for k in cached["keys"])):
        return cached
    with loopback.client() as http:
        res = http.get(f"{identifier}/.well-known/{dwk}")
        res.raise_for_status()
        metadata = validate_metadata(res.json(), identifier, ("jwks_uri",))
        res = http.get(metadata["jwks_uri"])
        res.raise_for_status()
        jwks = res.json()
    _jwks_cache[(identifier, dwk)] = jwks
    return jwks


verifier = aauth.RequestVerifier(
    ["resource.localhost"],
    fetch_jwks,
    trusted_auth_servers=[PERSON_SERVER, "https://as.localhost"],
    resource_id=RESOURCE,
    trusted_person_servers=[PERSON_SERVER],
)
challenges = aauth.ChallengeBuilder(RESOURCE, resource_key, resource_jwk["kid"], PERSON_SERVER, fetch_jwks)

resource_app = FastAPI()


@resource_app.get("/.well-known/aauth-resource.json")
def resource_metadata():
    return aauth.generate_resource_metadata(
        RESOURCE, f"{RESOURCE}/jwks.json", client_name="aauth 0.5.0 smoke resource", access_mode="agent-token"
    )


@resource_app.get("/jwks.json")
def resource_jwks():
    return aauth.generate_jwks([resource_jwk])


@resource_app.api_route("/protected", methods=["GET", "POST"])
async def protected(request: Request):
    headers = dict(request.headers)
    body = await request.body()
    if "signature" not in headers and "signature-key" not in headers:
        name, value = challenges.build_challenge(require_identity=True)
        return JSONResponse(
            {"error": "signature_required", "detail": "sign with your agent token"},
            status_code=401,
            headers={name: value},
            media_type="application/problem+json",
        )
    target = f"{RESOURCE}{request.url.path}" + (f"?{request.url.query}" if request.url.query else "")
    # On a worker thread: the verifier fetches keys synchronously, from agent.localhost among
    # others, which this same process serves on its event loop.
    result = await run_in_threadpool(verifier.verify_request, request.method, target, headers, body or None)
    if not result["valid"]:
        return Response(
            json.dumps({"error": result["error_code"], "detail": result["error"]}),
            status_code=401,
            headers={"Signature-Error": aauth.build_signature_error(result["error_code"])},
            media_type="application/problem+json",
        )
    claims = result["claims"]
    return {
        "token_type": result["token_type"],
        "agent_id": result["agent_id"],
        "user_sub": result["user_sub"],
        "person_server": result["person_server"],
        "iss": claims.get("iss"),
        "jkt": aauth.calculate_jwk_thumbprint(claims["cnf"]["jwk"]),
    }


if __name__ == "__main__":
    app = loopback.virtual_hosts({"agent.localhost": agent_app, "resource.localhost": resource_app})
    loopback.serve(app, "agent.localhost")
