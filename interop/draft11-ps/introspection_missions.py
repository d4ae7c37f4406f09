"""introspection-aauth 0.1.0's Person Server with missions, and a person the test plays: our driver.

https://ps.localhost   PersonServer behind person_server_router (as ../draft-peers/introspection_app.py
                       runs it: endpoints under /aauth, tenant "smoke", anyone a login_hint names),
                       plus two test routes standing in for its host's approval UI:

  GET  /_test/approvals                  the approvals it raised (on_approval hook), oldest first
  POST /_test/decide {tenant, id, status} the person's answer, through PersonServer.decide()
                                          ("approved" / "denied"; decided_by = the approval's person)

It issues an auth token only within a mission (its `_resource_token`): the agent proposes one
(signed POST /aauth/mission {description, resources, login_hint, tenant}), a person approves it,
and the agent's poll of the pending URL answers {s256, mission, person_tokens}: person tokens that
carry `mission_s256`, which a resource copies into its resource token.

Trusts the agent providers in AAUTH_EXTRA_AGENT_PROVIDERS (a JSON list). State in memory; keys new
each start.

Usage: python introspection_missions.py   (names, ports and TLS from the environment: ../draft-peers/loopback.py)
"""

import json
import os
import sys

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from introspection_aauth.fastapi import person_server_router
from introspection_aauth.person_server import AnyoneDirectory, MemoryStore, PersonServer
from introspection_aauth.person_server.models import ApprovalStatus
from introspection_aauth.protocol import SigningKey

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "draft-peers"))
import loopback  # noqa: E402

PERSON_SERVER = "https://ps.localhost"
approvals = []


async def on_approval(tenant, approval):
    """The person server asks its host to put an approval to a person: the test reads it here."""
    approvals.append({"tenant": tenant, **approval.model_dump(mode="json", include={"id", "kind", "agent_id", "person", "description", "grant", "mission_s256"})})


ps = PersonServer(
    PERSON_SERVER,
    SigningKey.generate(),
    MemoryStore(),
    subject_secret=os.urandom(32),
    agent_providers=json.loads(os.environ.get("AAUTH_EXTRA_AGENT_PROVIDERS", "[]")),
    http=loopback.async_client2(),
    directory=AnyoneDirectory(),
    default_tenant="smoke",
    endpoint_base=f"{PERSON_SERVER}/aauth",
    name="introspection-aauth person server with missions",
    on_approval=on_approval,
)

app = FastAPI()
app.include_router(person_server_router(ps))


@app.get("/_test/approvals")
def list_approvals():
    return approvals


@app.post("/_test/decide")
async def decide(order: dict):
    found = next((a for a in approvals if a["id"] == order["id"]), None)
    if found is None:
        return JSONResponse({"error": "no such approval"}, status_code=404)
    decided = await ps.decide(order["tenant"], order["id"], ApprovalStatus(order["status"]), decided_by=found["person"])
    return {"status": decided.status.value, "mission_s256": decided.mission_s256}


if __name__ == "__main__":
    loopback.serve(app, "ps.localhost")
