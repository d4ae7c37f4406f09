"""A tiny resource that verifies every request with aauth 0.1.1 and answers a JSON verdict.

Usage:
    python verifier_server.py --port PORT

Binds 127.0.0.1:PORT. GET /health answers 200 {"ok": true} unsigned. Any other request is
verified with aauth's RequestVerifier, as the original demo's resources did:

    200 {"verdict": "ok", "scheme", "agent_id", "thumbprint", "covered", "digest", "body"}
    401 {"verdict": "refused", "check": "aauth" | "digest", "reason", "aauth": <its result>}

aauth 0.1.1 never compares Content-Digest with the body (it signs over the header value only),
so this glue adds that one check, RFC 9530 (sha-256 and sha-512), when content-digest is covered:
"check": "digest" says the refusal is ours, "check": "aauth" that it is the library's.
The request URL is built from this server's own authority (127.0.0.1:PORT), never from Host.
"""

import argparse
import asyncio
import base64
import hashlib
import json
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aauth import (
    JWKSFetcher,
    RequestVerifier,
    calculate_jwk_thumbprint,
    parse_signature_input,
    parse_signature_key,
)


def make_jwks_fetcher():
    """The synchronous jwks_fetcher aauth's verifier calls: id -> aauth-agent.json -> jwks_uri -> JWKS."""
    fetcher = JWKSFetcher()  # aauth's own discovery (httpx), cached per jwks_uri and kid

    def fetch(agent_id, kid=None):
        return asyncio.run(fetcher.fetch(agent_id, kid))

    return fetch


def check_digest(header, body):
    """RFC 9530: None when some sha-256/sha-512 member matches the body, else the reason."""
    members = dict(re.findall(r"([a-z0-9-]+)=:([A-Za-z0-9+/=]*):", header or ""))
    algorithms = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}
    known = {name: value for name, value in members.items() if name in algorithms}
    if not known:
        return "digest_malformed"
    for name, value in known.items():
        if base64.b64encode(algorithms[name](body).digest()).decode() != value:
            return "digest_mismatch"
    return None


def make_handler(port, verifier):
    authority = f"127.0.0.1:{port}"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def answer(self, status, document):
            data = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def handle_any(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.command == "GET" and self.path == "/health":
                return self.answer(200, {"ok": True})

            # Lower-case names, repeated fields joined (RFC 9110 section 5.3).
            headers = {}
            for name, value in self.headers.items():
                key = name.lower()
                headers[key] = f"{headers[key]}, {value}" if key in headers else value

            result = verifier.verify_request(
                method=self.command,
                target_uri=f"http://{authority}{self.path}",
                headers=headers,
                body=body or None,
            )
            if not result.get("valid"):
                return self.answer(401, {"verdict": "refused", "check": "aauth",
                                         "reason": result.get("error"), "aauth": result})

            covered, _params = parse_signature_input(headers["signature-input"])
            key = parse_signature_key(headers["signature-key"])
            digest = "not_covered" if body else "no_body"
            if "content-digest" in covered:
                problem = check_digest(headers.get("content-digest"), body)
                if problem:
                    return self.answer(401, {"verdict": "refused", "check": "digest",
                                             "reason": problem, "aauth": result})
                digest = "verified"

            thumbprint = None
            if key["scheme"] == "hwk":
                thumbprint = calculate_jwk_thumbprint(key["params"])
            return self.answer(200, {
                "verdict": "ok",
                "scheme": key["scheme"],
                "agent_id": result.get("agent_id"),
                "thumbprint": thumbprint,
                "covered": covered,
                "digest": digest,
                "body": body.decode("utf-8", "replace"),
            })

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any

        def log_message(self, fmt, *args):
            print(f"{self.command} {self.path} -> {fmt % args}", flush=True)

    return Handler


def main():
    parser = argparse.ArgumentParser(description="aauth 0.1.1 verifying server")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    verifier = RequestVerifier(canonical_authorities=[f"127.0.0.1:{args.port}"],
                               jwks_fetcher=make_jwks_fetcher())
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args.port, verifier))
    print(f"aauth 0.1.1 verifier on http://127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
