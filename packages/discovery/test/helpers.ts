import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A loopback HTTP server on a free port. */
export interface TestServer {
  url: string;
  server: Server;
  /** Requests seen, by path. */
  hits: Map<string, number>;
  close(): Promise<void>;
}

export type Route = { status?: number; body?: unknown; headers?: Record<string, string>; raw?: string } | ((req: IncomingMessage, res: ServerResponse) => void);

/** Start a server on 127.0.0.1:0 answering `routes` (path -> answer); unknown paths get 404. */
export async function startServer(routes: Record<string, Route> = {}): Promise<TestServer & { routes: Record<string, Route> }> {
  const hits = new Map<string, number>();
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const route = routes[path];
    if (!route) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found"}');
      return;
    }
    if (typeof route === 'function') {
      route(req, res);
      return;
    }
    const text = route.raw ?? JSON.stringify(route.body ?? {});
    res.writeHead(route.status ?? 200, { 'content-type': 'application/json', ...route.headers }).end(text);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    hits,
    routes,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A clock the test moves by hand (epoch seconds). */
export function manualClock(start = Math.floor(Date.now() / 1000)): { now: () => number; advance: (s: number) => void; set: (s: number) => void } {
  let t = start;
  return { now: () => t, advance: (s) => void (t += s), set: (s) => void (t = s) };
}

/** Close every server registered with `track` (for afterAll). */
export function closer(): { track: <T extends { close: () => Promise<void> }>(s: T) => T; closeAll: () => Promise<void> } {
  const list: Array<{ close: () => Promise<void> }> = [];
  return {
    track: (s) => {
      list.push(s);
      return s;
    },
    closeAll: async () => {
      await Promise.all(list.splice(0).map((s) => s.close()));
    },
  };
}

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
