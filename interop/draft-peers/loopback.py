"""Loopback names for the draft peers: TLS on 127.0.0.1, each name mapped to a port.

aauth 0.5.0 and introspection-aauth accept a server identifier only as
`https://host` with no port. The test setup (interop/fixtures/local-tls.ts)
therefore names every server `https://<name>.localhost`, runs it on 127.0.0.1 at
a free port, and hands every process the same map in its environment:

  AAUTH_LOOPBACK_HOSTS   JSON {"ps.localhost": 40123, ...}
  AAUTH_LOOPBACK_CA      the run's test CA (PEM), the only one trusted here
  AAUTH_LOOPBACK_CERT    the server certificate (every name) and its key
  AAUTH_LOOPBACK_KEY

A client from this module sends a request for https://<name>/... to
127.0.0.1:<port>, keeping <name> for SNI, the certificate check and the Host
header (like curl --connect-to), and refuses any other URL, so nothing leaves
the machine. `serve()` runs an app under uvicorn with TLS on a name's port.
"""

import json
import os
import ssl

import httpx
import httpx2
import uvicorn


def hosts():
    """The name -> port map of this run."""
    return {str(k): int(v) for k, v in json.loads(os.environ["AAUTH_LOOPBACK_HOSTS"]).items()}


def ssl_context():
    """A client context trusting the test CA only."""
    return ssl.create_default_context(cafile=os.environ["AAUTH_LOOPBACK_CA"])


def _redirect(request, module):
    """Point `request` at 127.0.0.1:<port> of its name; the Host header and SNI keep the name."""
    url = request.url
    port = hosts().get(url.host)
    if url.scheme != "https" or port is None or url.port not in (None, 443):
        raise module.ConnectError(f"{url.scheme}://{url.netloc.decode()} is not a mapped loopback name", request=request)
    request.url = url.copy_with(host="127.0.0.1", port=port)
    request.extensions = {**request.extensions, "sni_hostname": url.host}


class _SyncTransport(httpx.BaseTransport):
    def __init__(self):
        self._inner = httpx.HTTPTransport(verify=ssl_context(), trust_env=False)

    def handle_request(self, request):
        _redirect(request, httpx)
        return self._inner.handle_request(request)

    def close(self):
        self._inner.close()


class _AsyncTransport(httpx.AsyncBaseTransport):
    def __init__(self):
        self._inner = httpx.AsyncHTTPTransport(verify=ssl_context(), trust_env=False)

    async def handle_async_request(self, request):
        _redirect(request, httpx)
        return await self._inner.handle_async_request(request)

    async def aclose(self):
        await self._inner.aclose()


class _AsyncTransport2(httpx2.AsyncBaseTransport):
    """The same for httpx2 (introspection-aauth's client library, a fork of httpx)."""

    def __init__(self):
        self._inner = httpx2.AsyncHTTPTransport(verify=ssl_context(), trust_env=False)

    async def handle_async_request(self, request):
        _redirect(request, httpx2)
        return await self._inner.handle_async_request(request)

    async def aclose(self):
        await self._inner.aclose()


def client():
    """A sync httpx client limited to the mapped names."""
    return httpx.Client(transport=_SyncTransport(), trust_env=False, timeout=10)


def async_client():
    """An async httpx client limited to the mapped names."""
    return httpx.AsyncClient(transport=_AsyncTransport(), trust_env=False, timeout=10)


def async_client2():
    """An async httpx2 client limited to the mapped names."""
    return httpx2.AsyncClient(transport=_AsyncTransport2(), trust_env=False, timeout=10)


def virtual_hosts(apps):
    """One ASGI app answering each name in `apps` ({"ps.localhost": app}) by its Host header;
    another Host gets 421 Misdirected Request."""

    async def dispatch(scope, receive, send):
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1").split(":")[0].lower()
        app = apps.get(host)
        if app is None:
            await send({"type": "http.response.start", "status": 421, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": f"no server named {host!r} here".encode()})
            return
        await app(scope, receive, send)

    return dispatch


def serve(app, name):
    """Run `app` over TLS on 127.0.0.1 at the port `name` is mapped to (blocks)."""
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=hosts()[name],
        ssl_certfile=os.environ["AAUTH_LOOPBACK_CERT"],
        ssl_keyfile=os.environ["AAUTH_LOOPBACK_KEY"],
        lifespan="off",
        log_level="warning",
    )
