"""introspection-aauth 0.1.0: a Person Server and an Access Server of AAuth -11, one process.

https://ps.localhost   PersonServer behind person_server_router (its protocol routes under
                       /aauth and its well-known documents at the root): /.well-known/aauth-person.json,
                       /.well-known/aauth-person-jwks.json, POST /aauth/person-token, /aauth/token,
                       /aauth/mission, GET /aauth/pending/...
https://as.localhost   AccessServer behind access_server_router: /.well-known/aauth-access.json,
                       /.well-known/aauth-access-jwks.json, POST /aauth/token, GET /aauth/pending/{id}

Both trust agents of https://agent.localhost (the aauth 0.5.0 peer). The person server speaks for
whoever a `login_hint` names (AnyoneDirectory) in tenant "smoke"; the access server serves
https://resource.localhost and https://regent.localhost and allows every request its person
server brings. State is in memory; keys are new each start.

Usage: python introspection_app.py   (names, ports and TLS from the environment: see loopback.py)
"""

import json
import os

from fastapi import FastAPI

from introspection_aauth.access_server import AccessServer
from introspection_aauth.access_server.models import Verdict
from introspection_aauth.fastapi import access_server_router, person_server_router
from introspection_aauth.person_server import AnyoneDirectory, MemoryStore, PersonServer
from introspection_aauth.protocol import SigningKey

import loopback

PERSON_SERVER = "https://ps.localhost"
ACCESS_SERVER = "https://as.localhost"
# The aauth 0.5.0 agent provider, plus any a test names (a JSON list, e.g. the kit's own provider).
AGENT_PROVIDERS = ["https://agent.localhost", *json.loads(os.environ.get("AAUTH_EXTRA_AGENT_PROVIDERS", "[]"))]

ps = PersonServer(
    PERSON_SERVER,
    SigningKey.generate(),
    MemoryStore(),
    subject_secret=os.urandom(32),
    agent_providers=AGENT_PROVIDERS,
    http=loopback.async_client2(),
    directory=AnyoneDirectory(),
    default_tenant="smoke",
    endpoint_base=f"{PERSON_SERVER}/aauth",
    name="introspection-aauth smoke person server",
)

access = AccessServer(
    ACCESS_SERVER,
    SigningKey.generate(),
    lambda request: Verdict.allow(),
    resources=["https://resource.localhost", "https://regent.localhost"],
    person_servers=[PERSON_SERVER],
    agent_providers=AGENT_PROVIDERS,
    http=loopback.async_client2(),
    endpoint_base=f"{ACCESS_SERVER}/aauth",
    name="introspection-aauth smoke access server",
)

ps_app = FastAPI()
ps_app.include_router(person_server_router(ps))
as_app = FastAPI()
as_app.include_router(access_server_router(access))

if __name__ == "__main__":
    app = loopback.virtual_hosts({"ps.localhost": ps_app, "as.localhost": as_app})
    loopback.serve(app, "ps.localhost")
