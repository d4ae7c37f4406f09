"""regent-httpsig 0.7.3 as a resource at https://regent.localhost that verifies AAuth requests.

/protected (GET, POST) depends on regent's RequiredSignatureDep: an unsigned request gets its 401
with `AAuth-Requirement: requirement=agent-token`; a signed one it refuses, 401 with
`Signature-Error` (and `Accept-Signature-*` where the code calls for them); a verified one, 200
with what the verifier saw (scheme, agent, sub, keyid, claims).

The verifier fetches issuers' metadata and JWKS through the loopback client (the only way to
reach https://<name>.localhost) and lists every mapped name in `insecure_hosts`, which exempts
them from its public-IP guard: the names do not resolve here, and they are loopback anyway.
Person tokens are accepted for this resource; auth tokens from https://ps.localhost and
https://as.localhost, their keys found through their metadata.

Usage: python regent_app.py   (names, ports and TLS from the environment: see loopback.py)
"""

from fastapi import FastAPI

from regent_httpsig import HttpsigConfig, HttpsigVerifier
from regent_httpsig.fastapi import RequiredSignatureDep, VerifiedSignature, attach

import loopback

RESOURCE = "https://regent.localhost"

verifier = HttpsigVerifier(
    HttpsigConfig(
        insecure_hosts=frozenset(loopback.hosts()),
        resource_url=RESOURCE,
        trusted_ps={"https://ps.localhost": "", "https://as.localhost": ""},
    ),
    http_client=loopback.async_client(),
)

app = FastAPI()
attach(app, verifier)


@app.api_route("/protected", methods=["GET", "POST"])
async def protected(sig: VerifiedSignature = RequiredSignatureDep):
    return {
        "scheme": sig.scheme,
        "agent": sig.agent,
        "sub": sig.sub,
        "keyid": sig.keyid,
        "label": sig.label,
        "trusted": sig.trusted,
        "claims": sig.claims,
    }


if __name__ == "__main__":
    loopback.serve(loopback.virtual_hosts({"regent.localhost": app}), "regent.localhost")
