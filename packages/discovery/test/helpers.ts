export { closer, manualClock, startServer, type Route, type TestServer } from '../../../test/fixtures/route-server.js';

/** An injected fetch: `answer(url)` builds each response; `calls` records the URLs asked for. */
export function stubFetch(answer: (url: string, init: RequestInit | undefined) => Response | Promise<Response>): typeof fetch & { calls: string[] } {
  const calls: string[] = [];
  const f = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    calls.push(url);
    return answer(url, init);
  }) as typeof fetch & { calls: string[] };
  f.calls = calls;
  return f;
}

/** A JSON response with the given headers. */
export function json(body: unknown, headers: Record<string, string> = {}, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}
