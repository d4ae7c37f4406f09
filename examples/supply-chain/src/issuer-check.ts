/**
 * `npm run demo:services` with AAUTH_ISSUER: whether that issuer answers with AAuth issuer metadata
 * naming itself, checked once at start. The services start either way (under docker compose the
 * demo may come up before Keycloak is ready), but a wrong or unreachable issuer is said at once,
 * not first as a refused exchange on the first call.
 */
export async function issuerProblem(issuer: string, options: { fetch?: typeof fetch; timeoutMs?: number } = {}): Promise<string | undefined> {
  const fetchImpl = options.fetch ?? fetch;
  let scheme: string | undefined;
  try {
    scheme = new URL(issuer).protocol;
  } catch {
    scheme = undefined;
  }
  // `localhost:8080/realms/x` parses, with the scheme `localhost:`.
  if (scheme !== 'http:' && scheme !== 'https:') {
    return `AAUTH_ISSUER ${JSON.stringify(issuer)} is not an absolute URL (e.g. http://localhost:8080/realms/aauth-test)`;
  }
  if (issuer.endsWith('/')) return `AAUTH_ISSUER ends with "/": the issuer is compared byte for byte with the tokens' iss, write it without (${issuer.replace(/\/+$/, '')})`;
  const tried: string[] = [];
  for (const path of ['/.well-known/aauth-issuer.json', '/.well-known/aauth-issuer']) {
    const at = `${issuer}${path}`;
    let response: Response;
    try {
      response = await fetchImpl(at, { signal: AbortSignal.timeout(options.timeoutMs ?? 3000), redirect: 'manual' });
    } catch (error) {
      return `the auth server ${issuer} does not answer (${reason(error, options.timeoutMs ?? 3000)}); the services start anyway and every exchange fails until it does (Keycloak under docker compose takes up to a minute to be ready)`;
    }
    if (response.status === 404) {
      tried.push(`${path} 404`);
      await response.body?.cancel();
      continue;
    }
    let body: unknown;
    try {
      body = response.status === 200 ? await response.json() : undefined;
    } catch {
      body = undefined;
    }
    if (response.status !== 200 || typeof body !== 'object' || body === null) {
      return `the auth server ${issuer} answered ${at} with HTTP ${response.status}${response.status === 200 ? ' but not a JSON object' : ''}: is AAUTH_ISSUER the realm's issuer (http://HOST:PORT/realms/REALM)?`;
    }
    const named = (body as { issuer?: unknown }).issuer;
    if (named !== issuer) {
      return `the issuer metadata at ${at} names ${JSON.stringify(named)}, not AAUTH_ISSUER ${issuer}: tokens would carry that iss and be refused; set AAUTH_ISSUER to it exactly`;
    }
    return undefined;
  }
  return `the auth server ${issuer} serves no AAuth issuer metadata (${tried.join(', ')}): is it Keycloak with the AAuth extension (docker compose builds one), and AAUTH_ISSUER its realm (http://HOST:PORT/realms/REALM)?`;
}

/** Why a fetch failed: undici's `fetch failed` with its cause (`connect ECONNREFUSED ...`), or a timeout. */
function reason(error: unknown, timeoutMs: number): string {
  const e = error as { name?: string; message?: string; cause?: { message?: string; code?: string } };
  if (e.name === 'TimeoutError') return `no answer within ${timeoutMs / 1000} s`;
  const cause = e.cause?.message ?? e.cause?.code;
  return cause ? `${e.message ?? 'fetch failed'}: ${cause}` : String(e.message ?? error);
}
