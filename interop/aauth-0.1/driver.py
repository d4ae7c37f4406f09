"""Sign requests with aauth 0.1.1 (the original demo's client library) and send them.

Usage:
    python driver.py --scheme hwk|jwks_uri --request '<json>' [--request '<json>' ...]

Each --request is a JSON object:
    name         a label echoed in the output
    method       GET, POST, ...
    url          the target (a loopback URL)
    body         request body (text), optional
    content_type Content-Type of the body (default application/json)
    cover_body   true: cover content-type and content-digest (aauth's sign_request with
                 additional_signature_components); false: the demo's way, through
                 AgentRequestSigner, which never covers the body
    tamper_body  send this body instead of the signed one (headers unchanged)
    wrong_key    sign with a key other than the one Signature-Key names
    replay       send the identical signed request a second time

Output (stdout), one JSON object per line: first {"agent": ...} (scheme, id, kid, jwk, thumbprint
as aauth computes it), then one {"name", "status", "body", "headers", "sent"} per response, and
last {"served": {path: hits}} (what the kit fetched from this agent's well-known server).

For jwks_uri the driver is also the agent's identity server: it serves
/.well-known/aauth-agent.json and /jwks.json on 127.0.0.1 (a free port) while it runs, as wire
profile sections 4 and 9 describe. The JWKS holds the signing key (kid "key-1") and a second key
(kid "other-1"), which the wrong_key requests name.
"""

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
from aauth import (
    AgentRequestSigner,
    calculate_jwk_thumbprint,
    generate_agent_metadata,
    generate_ed25519_keypair,
    generate_jwks,
    public_key_to_jwk,
    sign_request,
)

KID = "key-1"
OTHER_KID = "other-1"


class Impostor:
    """A private key that names another public key: signs with `signer`, advertises `shown`.

    aauth's hwk Signature-Key comes from private_key.public_key(); this is how a request whose
    Signature-Key names a key that did not sign it is made with the library itself.
    """

    def __init__(self, signer, shown):
        self._signer = signer
        self._shown = shown

    def public_key(self):
        return self._shown.public_key()

    def sign(self, data):
        return self._signer.sign(data)


def serve_well_known(private_key, other_key):
    """Start the agent's identity server on 127.0.0.1:<free port>; returns (identity, hits, server)."""
    hits = {}
    documents = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            path = self.path.split("?")[0]
            hits[path] = hits.get(path, 0) + 1
            doc = documents.get(path)
            body = json.dumps(doc if doc is not None else {"error": "not_found"}).encode()
            self.send_response(200 if doc is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass  # stdout carries the JSON results only

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    identity = f"http://127.0.0.1:{server.server_address[1]}"
    # Wire profile section 9: {"agent", "jwks_uri"} and nothing else (no optional fields set).
    documents["/.well-known/aauth-agent.json"] = generate_agent_metadata(identity, f"{identity}/jwks.json")
    documents["/.well-known/aauth-agent"] = documents["/.well-known/aauth-agent.json"]
    # Section 2: OKP entries with kid and no alg.
    documents["/jwks.json"] = generate_jwks([
        public_key_to_jwk(private_key.public_key(), kid=KID),
        public_key_to_jwk(other_key.public_key(), kid=OTHER_KID),
    ])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return identity, hits, server


def sign(spec, scheme, private_key, other_key, identity):
    """Return (headers, body bytes) for one request, signed by aauth 0.1.1."""
    method = spec["method"].upper()
    body = spec.get("body")
    body_bytes = body.encode() if body is not None else None
    headers = {}
    if body_bytes is not None:
        headers["Content-Type"] = spec.get("content_type", "application/json")

    wrong = bool(spec.get("wrong_key"))
    key = Impostor(private_key, other_key) if wrong and scheme == "hwk" else private_key
    kid = OTHER_KID if wrong else KID
    scheme_args = {"id": identity, "kid": kid} if scheme == "jwks_uri" else {}

    if body_bytes is not None and spec.get("cover_body"):
        # The library's opt-in: cover content-type and content-digest (it adds Content-Digest).
        sig = sign_request(method, spec["url"], headers, body_bytes, key, sig_scheme=scheme,
                           additional_signature_components=["content-type", "content-digest"],
                           **scheme_args)
    else:
        # The demo's high-level signer: @method @authority @path signature-key, body never covered.
        signer = AgentRequestSigner(key, agent_id=identity, kid=kid)
        sig = signer.sign_request(method, spec["url"], headers, body_bytes, sig_scheme=scheme)
    headers.update(sig)
    return headers, body_bytes


def send(client, spec, headers, body_bytes):
    """Send and describe the answer."""
    sent_body = spec["tamper_body"].encode() if "tamper_body" in spec else body_bytes
    res = client.request(spec["method"].upper(), spec["url"], headers=headers, content=sent_body)
    try:
        answer = res.json()
    except ValueError:
        answer = res.text
    wanted = ("aauth", "signature-error", "aauth-requirement", "accept-signature-scheme")
    return {
        "name": spec.get("name"),
        "status": res.status_code,
        "body": answer,
        "headers": {h: res.headers[h] for h in wanted if h in res.headers},
        "sent": headers,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scheme", choices=["hwk", "jwks_uri"], required=True)
    parser.add_argument("--request", action="append", default=[], help="a JSON request spec")
    args = parser.parse_args()

    private_key, _ = generate_ed25519_keypair()
    other_key, _ = generate_ed25519_keypair()
    identity, hits, server = (None, {}, None)
    if args.scheme == "jwks_uri":
        identity, hits, server = serve_well_known(private_key, other_key)

    jwk = public_key_to_jwk(private_key.public_key())
    print(json.dumps({"agent": {
        "scheme": args.scheme,
        "id": identity,
        "kid": KID,
        "jwk": jwk,
        "thumbprint": calculate_jwk_thumbprint(jwk),
        "other_jwk": public_key_to_jwk(other_key.public_key()),
    }}), flush=True)

    # trust_env=False: no proxy settings from the environment; traffic stays on loopback.
    with httpx.Client(trust_env=False, timeout=10.0) as client:
        for raw in args.request:
            spec = json.loads(raw)
            headers, body_bytes = sign(spec, args.scheme, private_key, other_key, identity)
            print(json.dumps(send(client, spec, headers, body_bytes)), flush=True)
            if spec.get("replay"):
                again = dict(spec, name=f"{spec.get('name')}#replay")
                print(json.dumps(send(client, again, headers, body_bytes)), flush=True)

    print(json.dumps({"served": hits}), flush=True)
    if server is not None:
        server.shutdown()


if __name__ == "__main__":
    sys.exit(main())
