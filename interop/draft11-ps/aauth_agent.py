"""The `aauth` 0.5.0 agent (PyPI) against the kit's -11 person server: our driver.

https://py-agent.localhost   the agent's own agent provider (aauth.generate_agent_metadata and its
                             JWKS) and one agent, aauth:py@py-agent.localhost, holding an agent
                             token that provider issued (aa-agent+jwt, 1 h, `ps` = the kit's person
                             server, named by AAUTH_KIT_PS). Both keys Ed25519, new each start.

POST /_test/flow {resource, person_path, auth_path} runs the whole -11 flow with aauth's agent API
and answers every step as the agent saw it:

  1. GET {resource}{person_path} signed with the agent token (AgentRequestSigner, sig=jwt):
     the kit resource answers 401 requirement=person-token;
  2. aauth.request_person_token(kit person server, resource): a signed POST to its
     person_token_endpoint; the 202 interaction is handed to the test through
     POST https://hook.localhost/interaction {url, code} (the test signs in and consents on the kit's
     consent page), then aauth's poller collects the person token;
  3. GET {person_path} again, presenting the person token: 200;
  4. GET {auth_path} with the person token: 401 requirement=auth-token with a resource token;
  5. aauth.exchange_resource_token(resource token, presented_token = the person token): a signed
     POST to the kit person server's auth_token_endpoint, the auth token checked by aauth;
  6. GET {auth_path} presenting the auth token: 200;
  7. the same exchange again: refused by the kit (a resource token is redeemed once).

aauth's token checks call their key fetcher synchronously, and this process also serves the
provider's JWKS the kit fetches meanwhile, so each flow runs on a worker thread with its own loop.

Usage: python aauth_agent.py   (names, ports and TLS from the environment: ../draft-peers/loopback.py)
"""

import asyncio
import os
import sys

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

import aauth
from aauth.errors import AAuthError
from aauth.metadata.common import validate_metadata

# The loopback names, TLS and clients shared with the other -11 peers.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "draft-peers"))
import loopback  # noqa: E402

AGENT_PROVIDER = "https://py-agent.localhost"
AGENT_ID = "aauth:py@py-agent.localhost"
KIT_PS = os.environ["AAUTH_KIT_PS"]
HOOK = "https://hook.localhost/interaction"


def jwk_of(private_key):
    public = aauth.public_key_to_jwk(private_key.public_key())
    return {**public, "kid": aauth.calculate_jwk_thumbprint(public)}


# --- the agent provider and its agent ---------------------------------------------------------
provider_key, _ = aauth.generate_ed25519_keypair()
provider_jwk = jwk_of(provider_key)
provider_jwks = aauth.generate_jwks([provider_jwk])
agent_key, _ = aauth.generate_ed25519_keypair()
agent_jwk = aauth.public_key_to_jwk(agent_key.public_key())
agent_token = aauth.create_agent_token(AGENT_PROVIDER, AGENT_ID, agent_jwk, provider_key, provider_jwk["kid"], ps=KIT_PS)
signer = aauth.AgentRequestSigner(agent_key, agent_id=AGENT_ID, agent_token=agent_token)


def fetch_jwks(identifier, dwk, kid=None):
    """aauth's key fetcher (synchronous): our own provider's keys from memory, anyone else's from
    {identifier}/.well-known/{dwk}, checked with aauth's metadata rules, then its jwks_uri."""
    if identifier == AGENT_PROVIDER:
        return provider_jwks
    with loopback.client() as http:
        res = http.get(f"{identifier}/.well-known/{dwk}")
        res.raise_for_status()
        metadata = validate_metadata(res.json(), identifier, ("jwks_uri",))
        res = http.get(metadata["jwks_uri"])
        res.raise_for_status()
        return res.json()


app = FastAPI()


@app.get("/.well-known/aauth-agent.json")
def agent_metadata():
    return aauth.generate_agent_metadata(AGENT_PROVIDER, f"{AGENT_PROVIDER}/jwks.json", client_name="aauth 0.5.0 agent (interop)")


@app.get("/jwks.json")
def agent_jwks():
    return provider_jwks


@app.get("/_test/agent")
def agent_info():
    return {"agent_id": AGENT_ID, "agent_token": agent_token, "jkt": aauth.calculate_jwk_thumbprint(agent_jwk)}


def answer_of(res):
    """A response as the test reads it."""
    try:
        parsed = res.json()
    except ValueError:
        parsed = None
    return {"status": res.status_code, "headers": {k.lower(): v for k, v in res.headers.items()}, "json": parsed}


async def flow(order):
    resource = order["resource"]
    steps = {}
    interactions = []

    async with loopback.async_client() as http:

        async def call(path, token=None):
            """A GET signed by aauth under sig=jwt: the agent token, or `token` (person / auth)."""
            url = resource + path
            headers = signer.sign_request("GET", url, {}, None, token=token)
            return answer_of(await http.get(url, headers=headers))

        async def on_interaction(url, code):
            """The 202's interaction: the test plays the person (sign-in and consent)."""
            interactions.append({"url": url, "code": code})
            res = await http.post(HOOK, json={"url": url, "code": code})
            res.raise_for_status()

        step = "start"
        try:
            step = "challenge"
            steps[step] = await call(order["person_path"])
            step = "person_token"
            person_token = await aauth.request_person_token(
                KIT_PS,
                resource,
                agent_key,
                agent_token,
                jwks_fetcher=fetch_jwks,
                http_client=http,
                on_interaction=on_interaction,
                max_polls=5,
                # -11 section 7.1: the agent can send its person to a URL (the kit asks for consent).
                capabilities=["interaction"],
            )
            steps[step] = {"token": person_token}
            step = "person_call"
            steps[step] = await call(order["person_path"], person_token)
            step = "auth_challenge"
            steps[step] = await call(order["auth_path"], person_token)
            resource_token = aauth.extract_resource_token(steps[step]["headers"])
            steps[step]["resource_token"] = resource_token
            step = "auth_token"
            auth_token = await aauth.exchange_resource_token(
                resource_token,
                agent_key,
                agent_token,
                presented_token=person_token,
                resource_id=resource,
                person_server=KIT_PS,
                jwks_fetcher=fetch_jwks,
                http_client=http,
                on_interaction=on_interaction,
                max_polls=5,
            )
            steps[step] = {"token": auth_token}
            step = "auth_call"
            steps[step] = await call(order["auth_path"], auth_token)
            # A resource token is single use at the kit: the same exchange again is refused, and
            # aauth reports the person server's code. aauth signs with `created` in whole seconds
            # and no nonce, so the same request within the same second has the same signature,
            # which the kit refuses as a replay first: wait for the next second.
            step = "auth_token_again"
            await asyncio.sleep(1)
            try:
                await aauth.exchange_resource_token(
                    resource_token,
                    agent_key,
                    agent_token,
                    presented_token=person_token,
                    resource_id=resource,
                    person_server=KIT_PS,
                    jwks_fetcher=fetch_jwks,
                    http_client=http,
                )
                steps[step] = {"refused": None}
            except AAuthError as exc:
                steps[step] = {"refused": {"type": type(exc).__name__, "error": str(exc), "code": getattr(exc, "error_code", None)}}
        except AAuthError as exc:  # aauth's own refusal (TokenError, MetadataError, ...)
            steps["failed"] = {"step": step, "type": type(exc).__name__, "error": str(exc), "code": getattr(exc, "error_code", None)}
        except Exception as exc:  # a transport or parsing failure: reported, never a 500 of this driver
            steps["failed"] = {"step": step, "type": type(exc).__name__, "error": str(exc)}
    return {"steps": steps, "interactions": interactions}


@app.post("/_test/flow")
async def run_flow(order: dict):
    # A worker thread with its own event loop (see the module's docstring).
    return await run_in_threadpool(lambda: asyncio.run(flow(order)))


if __name__ == "__main__":
    loopback.serve(app, "py-agent.localhost")
