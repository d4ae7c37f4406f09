import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createDocumentFetcher, fetchLimited } from '@aauth-kit/discovery';
import { createNodeTransport, pinnedLookup } from '../src/lib/node-transport.js';
import { closer, startServer } from './helpers.js';

// Issue 18 (cold start): without a `fetch` option, discovery sends over node:http/https, under the
// same rules as with one (wire profile section 4). Real loopback servers on port 0; nothing timed.
const servers = closer();
afterAll(() => servers.closeAll());

async function rejection(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: { code: string; message: string }) => e,
  );
}

/** The request's body as text, once all of it has arrived. */
async function bodyOf(req: IncomingMessage): Promise<string> {
  let body = '';
  req.setEncoding('utf8');
  for await (const chunk of req) body += chunk as string;
  return body;
}

/** Resolves when the server side of a response is closed: finished, or cut by the client. */
function closedOf(res: import('node:http').ServerResponse): Promise<'finished' | 'cut'> {
  return new Promise((resolve) => res.once('close', () => resolve(res.writableFinished ? 'finished' : 'cut')));
}

describe('discovery over node:http (no fetch option)', () => {
  it('fetches metadata and its JWKS, honours Cache-Control, sends its user-agent and no accept-encoding, over one kept-alive socket', async () => {
    const seen: IncomingHttpHeaders[] = [];
    let connections = 0;
    const s = servers.track(
      await startServer({
        '/.well-known/aauth-agent.json': (req, res) => {
          seen.push(req.headers);
          res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=120', age: '20' });
          res.end(JSON.stringify({ agent: 'http://127.0.0.1', jwks_uri: `${s.url}/jwks.json` }));
        },
        '/jwks.json': (req, res) => {
          seen.push(req.headers);
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'AAAA', kid: 'k1' }] }));
        },
      }),
    );
    s.server.on('connection', () => connections++);
    let t = 1_000_000;
    const documents = createDocumentFetcher({ now: () => t });
    const meta = await documents.fetchJson(`${s.url}/.well-known/aauth-agent.json`, { kind: 'agent metadata' });
    expect(meta).toMatchObject({ status: 200, body: { agent: 'http://127.0.0.1', jwks_uri: `${s.url}/jwks.json` }, fetchedAt: t });
    const jwks = await documents.fetchJson(String(meta.body!.jwks_uri), { kind: 'agent JWKS' });
    expect(jwks.body).toEqual({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'AAAA', kid: 'k1' }] });
    expect(seen.map((h) => [h['user-agent'], h.accept, h['accept-encoding']])).toEqual([
      ['aauth-kit-discovery', 'application/json', undefined],
      ['aauth-kit-discovery', 'application/json', undefined],
    ]);
    expect(connections).toBe(1);
    // max-age 120 minus Age 20: fresh at +99 s, refetched at +100 s.
    t += 99;
    await documents.fetchJson(`${s.url}/.well-known/aauth-agent.json`);
    expect(s.hits.get('/.well-known/aauth-agent.json')).toBe(1);
    t += 1;
    await documents.fetchJson(`${s.url}/.well-known/aauth-agent.json`);
    expect(s.hits.get('/.well-known/aauth-agent.json')).toBe(2);
    expect(documents.fetchCount).toBe(3);
  });

  it('sends a GET once more on a new socket when the server closed the kept-alive one as it was reused', async () => {
    const served = new Map<object, number>();
    let dropped = 0;
    const s = servers.track(
      await startServer({
        '/doc.json': (req, res) => {
          const n = (served.get(req.socket) ?? 0) + 1;
          served.set(req.socket, n);
          // The second request on a connection: closed unanswered, as a server whose idle timer just fired.
          if (n === 2) {
            dropped++;
            req.socket.destroy();
            return;
          }
          res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end('{"ok":true}');
        },
      }),
    );
    let t = 1_000_000;
    const documents = createDocumentFetcher({ now: () => t });
    await documents.fetchJson(`${s.url}/doc.json`);
    t += 60;
    await expect(documents.fetchJson(`${s.url}/doc.json`)).resolves.toMatchObject({ status: 200, body: { ok: true } });
    expect([dropped, served.size, s.hits.get('/doc.json')]).toEqual([1, 2, 3]);
  });

  it('a 404 is remembered as a document, other statuses and non-JSON fail with the failure code', async () => {
    const s = servers.track(await startServer({ '/500': { status: 500, body: {} }, '/text': { raw: 'not json' } }));
    const documents = createDocumentFetcher();
    await expect(documents.fetchJson(`${s.url}/missing`)).resolves.toMatchObject({ status: 404, body: undefined });
    await expect(documents.fetchJson(`${s.url}/500`, { kind: 'agent metadata' })).rejects.toMatchObject({
      code: 'key_discovery_failed',
      message: `The agent metadata at ${s.url}/500 answered HTTP 500`,
    });
    await expect(documents.fetchJson(`${s.url}/text`)).rejects.toMatchObject({ message: `The document at ${s.url}/text is not a JSON object (the answer is not JSON)` });
  });

  it('a compressed answer (discovery asks for none and decodes none) is refused naming its Content-Encoding', async () => {
    const { gzipSync } = await import('node:zlib');
    const gzipped = gzipSync(Buffer.from('{"ok":true}'));
    const s = servers.track(await startServer({ '/gz': (_req, res) => void res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(gzipped) }));
    await expect(createDocumentFetcher().fetchJson(`${s.url}/gz`)).rejects.toMatchObject({
      code: 'key_discovery_failed',
      message: `The document at ${s.url}/gz is not a JSON object (the answer is Content-Encoding: "gzip", which discovery does not decode: serve the document uncompressed)`,
    });
  });

  it('refuses a declared oversize answer unread', async () => {
    const s = servers.track(
      await startServer({
        '/big': (_req, res) => {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': '5000' });
          res.write('{"a":"'); // the rest never comes: the declared size alone refuses it
        },
      }),
    );
    const documents = createDocumentFetcher({ maxBytes: 1000 });
    await expect(documents.fetchJson(`${s.url}/big`)).rejects.toMatchObject({
      code: 'key_discovery_failed',
      message: `${s.url}/big answered 5000 bytes, more than the 1000 allowed; an answer larger than 1000 bytes is refused unread`,
    });
  });

  it('cuts a streamed answer past maxBytes and closes its connection', async () => {
    let closed: Promise<'finished' | 'cut'> | undefined;
    const s = servers.track(
      await startServer({
        '/stream': (_req, res) => {
          closed = closedOf(res);
          res.writeHead(200, { 'content-type': 'application/json' }); // chunked, no length declared
          const drip = setInterval(() => res.write('x'.repeat(400)), 5);
          res.once('close', () => clearInterval(drip));
        },
      }),
    );
    const documents = createDocumentFetcher({ maxBytes: 1000 });
    await expect(documents.fetchJson(`${s.url}/stream`)).rejects.toMatchObject({
      code: 'key_discovery_failed',
      message: `${s.url}/stream answered more than the 1000 bytes allowed; an answer larger than 1000 bytes is refused`,
    });
    await expect(closed).resolves.toBe('cut');
  });

  it('gives up on a body slower than timeoutMs and closes its connection', async () => {
    let closed: Promise<'finished' | 'cut'> | undefined;
    const s = servers.track(
      await startServer({
        '/slow': (_req, res) => {
          closed = closedOf(res);
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
          res.write('{"a":'); // and nothing more
        },
      }),
    );
    const documents = createDocumentFetcher({ timeoutMs: 200 });
    await expect(documents.fetchJson(`${s.url}/slow`)).rejects.toMatchObject({
      code: 'key_discovery_failed',
      message: `${s.url}/slow did not answer within 200 ms`,
    });
    await expect(closed).resolves.toBe('cut');
  });

  it('follows a same-origin redirect of a GET, refuses one to another origin', async () => {
    const other = servers.track(await startServer({ '/jwks.json': { body: { keys: [] } } }));
    const s = servers.track(
      await startServer({
        '/moved': { status: 301, headers: { location: '/jwks.json' } },
        '/jwks.json': { body: { keys: ['here'] } },
        '/away': { status: 302, headers: { location: `${other.url}/jwks.json` } },
      }),
    );
    const documents = createDocumentFetcher();
    await expect(documents.fetchJson(`${s.url}/moved`)).resolves.toMatchObject({ status: 200, body: { keys: ['here'] }, url: `${s.url}/moved` });
    await expect(documents.fetchJson(`${s.url}/away`)).rejects.toMatchObject({
      code: 'key_discovery_failed',
      message: `${s.url}/away redirected (302): a redirect to another origin (${other.url}) is refused; only same-origin redirects are followed`,
    });
    expect(other.hits.size).toBe(0);
  });

  it('sends a POST with its body and length, and never follows its redirect', async () => {
    const bodies: string[] = [];
    const s = servers.track(
      await startServer({
        '/token': async (req, res) => {
          const body = await bodyOf(req);
          bodies.push(`${req.method} ${req.headers['content-length']} ${req.headers['content-type']} ${body}`);
          res.writeHead(307, { location: '/token2' }).end();
        },
        '/token2': { body: { ok: true } },
      }),
    );
    const body = new TextEncoder().encode('{"q":1}');
    const post = fetchLimited(new URL(`${s.url}/token`), { method: 'POST', headers: { 'content-type': 'application/json' }, body }, { timeoutMs: 2000, maxBytes: 1000, failureCode: 'exchange_failed' });
    await expect(post).rejects.toMatchObject({ code: 'exchange_failed', message: `${s.url}/token redirected (307); this request follows no redirects` });
    expect(bodies).toEqual(['POST 7 application/json {"q":1}']);
    expect(s.hits.get('/token2')).toBeUndefined();
  });

  it('fetchLimited answers with headers read like a fetch Headers (any case, repeated fields joined)', async () => {
    const s = servers.track(
      await startServer({
        '/x': (_req, res) => {
          res.setHeader('X-Many', ['a', 'b']);
          res.writeHead(201, { 'content-type': 'application/json' }).end('{"ok":true}');
        },
      }),
    );
    const r = await fetchLimited(new URL(`${s.url}/x`), { method: 'GET', headers: {} }, { timeoutMs: 2000, maxBytes: 1000 });
    expect([r.status, r.headers.get('X-Many'), r.headers.get('content-type'), r.headers.get('absent'), Buffer.from(r.body).toString(), r.url.href]).toEqual([
      201,
      'a, b',
      'application/json',
      null,
      '{"ok":true}',
      `${s.url}/x`,
    ]);
  });

  it('refuses a name that resolves to a private address before connecting; a local name is allowed', async () => {
    const s = servers.track(await startServer({ '/m.json': { body: { ok: true } } }));
    const port = new URL(s.url).port;
    const documents = createDocumentFetcher({ allowHttpHosts: ['*.test'], resolveHostname: async () => ['127.0.0.1'] });
    await expect(documents.fetchJson(`http://agent.test:${port}/m.json`)).rejects.toMatchObject({
      code: 'egress_denied',
      message: `Refusing to fetch http://agent.test:${port}: the name resolves to a private, loopback or link-local address`,
    });
    expect(s.hits.size).toBe(0);
    await expect(documents.fetchJson(`http://localhost:${port}/m.json`)).resolves.toMatchObject({ status: 200, body: { ok: true } });
  });

  it('an unreachable host is the failure code, naming the refused connection', async () => {
    const gone = await startServer();
    await gone.close();
    const documents = createDocumentFetcher();
    const error = await rejection(documents.fetchJson(`${gone.url}/x.json`));
    expect(error.code).toBe('key_discovery_failed');
    expect(error.message).toMatch(new RegExp(`^Cannot reach ${gone.url}/x\\.json: connect ECONNREFUSED`));
  });
});

describe('the node transport connects to the addresses the egress policy checked', () => {
  it('sends to a pinned address, never resolving the name (which serves Host)', async () => {
    let host: string | undefined;
    const s = servers.track(
      await startServer({
        '/x': (req, res) => {
          host = req.headers.host;
          res.writeHead(200).end('pinned');
        },
      }),
    );
    const port = new URL(s.url).port;
    // agent.invalid does not resolve (RFC 6761): only the pinned address can be reached.
    const send = createNodeTransport();
    const answer = await send(new URL(`http://agent.invalid:${port}/x`), { method: 'GET', headers: {} }, AbortSignal.timeout(2000), ['127.0.0.1']);
    expect([answer.status, Buffer.from(await answer.read(100, () => new Error('too large'))).toString(), host]).toEqual([200, 'pinned', `agent.invalid:${port}`]);
  });

  it('a name of several addresses is tried over them in turn; one the policy did not check is resolved here, Host naming it', async () => {
    const hosts: (string | undefined)[] = [];
    const s = servers.track(
      await startServer({
        '/x': (req, res) => {
          hosts.push(req.headers.host);
          res.writeHead(200).end('ok');
        },
      }),
    );
    const port = new URL(s.url).port;
    const send = createNodeTransport();
    const body = async (answer: Promise<{ read: (max: number, tooLarge: () => Error) => Promise<Uint8Array> }>): Promise<string> =>
      Buffer.from(await (await answer).read(100, () => new Error('too large'))).toString();
    // 127.0.0.2 is loopback too, but nothing listens there on this port: refused, then the next one.
    expect(await body(send(new URL(`http://agent.invalid:${port}/x`), { method: 'GET', headers: {} }, AbortSignal.timeout(2000), ['127.0.0.2', '127.0.0.1']))).toBe('ok');
    // No addresses given (a local name the policy trusts without looking): resolved here.
    expect(await body(send(new URL(`http://localhost:${port}/x`), { method: 'GET', headers: {} }, AbortSignal.timeout(2000), undefined))).toBe('ok');
    // An IP literal is connected to as it is, Host naming it.
    expect(await body(send(new URL(`http://127.0.0.1:${port}/x`), { method: 'GET', headers: {} }, AbortSignal.timeout(2000), undefined))).toBe('ok');
    expect(hosts).toEqual([`agent.invalid:${port}`, `localhost:${port}`, `127.0.0.1:${port}`]);
  });

  it('a localhost name is sent to loopback without any lookup, Host naming it; the next loopback address only when one cannot be connected to', async () => {
    const seen: string[] = [];
    const s = servers.track(
      await startServer({
        '/x': async (req, res) => {
          const body = await bodyOf(req);
          seen.push(`${req.method} ${req.headers.host} ${body}`);
          res.writeHead(200).end('ok');
        },
      }),
    );
    const port = new URL(s.url).port;
    const text = async (answer: Promise<{ read: (max: number, tooLarge: () => Error) => Promise<Uint8Array> }>): Promise<string> =>
      Buffer.from(await (await answer).read(100, () => new Error('too large'))).toString();
    const get = { method: 'GET', headers: {} };
    // Names under localhost are loopback too (RFC 6761): this machine's resolver is never asked.
    const send = createNodeTransport();
    expect(await text(send(new URL(`http://localhost:${port}/x`), get, AbortSignal.timeout(2000), undefined))).toBe('ok');
    expect(await text(send(new URL(`http://agent.localhost:${port}/x`), get, AbortSignal.timeout(2000), undefined))).toBe('ok');
    // Nothing listens on 127.0.0.2 at this port: refused, so the next address gets the request,
    // a POST with its body too (nothing was sent to the first).
    const twoStep = createNodeTransport({ loopback: ['127.0.0.2', '127.0.0.1'] });
    expect(await text(twoStep(new URL(`http://localhost:${port}/x`), get, AbortSignal.timeout(2000), undefined))).toBe('ok');
    const post = { method: 'POST', headers: { 'content-type': 'text/plain' }, body: Buffer.from('kept') };
    expect(await text(twoStep(new URL(`http://localhost:${port}/x`), post, AbortSignal.timeout(2000), undefined))).toBe('ok');
    expect(seen).toEqual([`GET localhost:${port} `, `GET agent.localhost:${port} `, `GET localhost:${port} `, `POST localhost:${port} kept`]);
    // None can be connected to: the first address's refusal is the error.
    const none = createNodeTransport({ loopback: ['127.0.0.2', '127.0.0.3'] });
    const error = await rejection(none(new URL(`http://localhost:${port}/x`), get, AbortSignal.timeout(2000), undefined));
    expect([error.code, error.message]).toEqual(['ECONNREFUSED', `connect ECONNREFUSED 127.0.0.2:${port}`]);
  });

  it('a localhost request that reached a server is never sent to the next loopback address', async () => {
    // The first address accepts and drops the connection; a server on the second counts requests.
    const dropping = createServer((req) => req.socket.destroy());
    await new Promise<void>((resolve) => dropping.listen(0, '127.0.0.1', resolve));
    servers.track({ close: () => new Promise<void>((resolve) => (dropping.closeAllConnections(), dropping.close(() => resolve()))) });
    const { port } = dropping.address() as AddressInfo;
    let reached = 0;
    const second = createServer((_req, res) => {
      reached++;
      res.writeHead(200).end('second');
    });
    await new Promise<void>((resolve) => second.listen(port, '127.0.0.2', resolve));
    servers.track({ close: () => new Promise<void>((resolve) => (second.closeAllConnections(), second.close(() => resolve()))) });
    const send = createNodeTransport({ loopback: ['127.0.0.1', '127.0.0.2'] });
    const error = await rejection(send(new URL(`http://localhost:${port}/x`), { method: 'GET', headers: {} }, AbortSignal.timeout(2000), undefined));
    expect([error.code, reached]).toEqual(['ECONNRESET', 0]);
  });

  it('a name that does not resolve is the failure code, naming the lookup', async () => {
    const documents = createDocumentFetcher({ allowHttpHosts: ['agent.invalid'] });
    const error = await rejection(documents.fetchJson('http://agent.invalid:9/x.json'));
    expect(error.code).toBe('key_discovery_failed');
    expect(error.message).toMatch(/^Cannot reach http:\/\/agent\.invalid:9\/x\.json: getaddrinfo (ENOTFOUND|EAI_AGAIN) agent\.invalid/);
  });

  it('pinnedLookup answers the checked addresses, by family, and no others', async () => {
    const lookup = pinnedLookup(['93.184.215.14', '[2606:2800:21f:cb07:6820:80da:af6b:8b2c]']);
    const ask = (options: object): Promise<unknown[]> =>
      new Promise((resolve) => lookup('agent.example', options, (error, address, family) => resolve([error?.code ?? null, address, family])));
    expect(await ask({ all: true })).toEqual([
      null,
      [
        { address: '93.184.215.14', family: 4 },
        { address: '2606:2800:21f:cb07:6820:80da:af6b:8b2c', family: 6 },
      ],
      undefined,
    ]);
    expect(await ask({})).toEqual([null, '93.184.215.14', 4]);
    expect(await ask({ family: 6 })).toEqual([null, '2606:2800:21f:cb07:6820:80da:af6b:8b2c', 6]);
    expect(await ask({ family: 4, all: true })).toEqual([null, [{ address: '93.184.215.14', family: 4 }], undefined]);
    expect(await new Promise((resolve) => pinnedLookup(['93.184.215.14'])('agent.example', { family: 6 }, (error) => resolve(error?.code)))).toBe('ENOTFOUND');
  });
});

// A certificate needs openssl (node cannot make one); a fresh process trusts it (NODE_EXTRA_CA_CERTS).
const openssl = spawnSync('openssl', ['version'], { encoding: 'utf8' }).status === 0;

describe.skipIf(!openssl)('over node:https', () => {
  it('checks the certificate against the name, also on a connection pinned to a checked address or sent to loopback for a localhost name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aauth-tls-'));
    try {
      const made = spawnSync(
        'openssl',
        ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=agent.invalid', '-addext', 'subjectAltName=DNS:agent.invalid,DNS:localhost'],
        { cwd: dir, encoding: 'utf8' },
      );
      expect(made.status, made.stderr).toBe(0);
      const server = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) =>
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ host: req.headers.host })),
      );
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      servers.track({ close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))) });
      const { port } = server.address() as AddressInfo;
      const transport = fileURLToPath(new URL('../dist/lib/node-transport.js', import.meta.url));
      const probe = `
        import { createDocumentFetcher } from '@aauth-kit/discovery';
        import { createNodeTransport } from ${JSON.stringify(transport)};
        const out = {};
        out.local = (await createDocumentFetcher().fetchJson('https://localhost:${port}/a.json')).body;
        const send = createNodeTransport();
        const get = async (host, addresses = ['127.0.0.1']) => {
          try {
            const a = await send(new URL('https://' + host + ':${port}/x'), { method: 'GET', headers: {} }, AbortSignal.timeout(5000), addresses);
            return JSON.parse(Buffer.from(await a.read(1000, () => new Error('too large'))).toString());
          } catch (e) {
            return e.code;
          }
        };
        out.pinned = await get('agent.invalid');
        out.otherName = await get('other.invalid');
        // A localhost name goes to loopback unresolved; the certificate is still checked against the name.
        out.localName = await get('localhost', undefined);
        out.otherLocalName = await get('other.localhost', undefined);
        console.log(JSON.stringify(out));
      `;
      const run = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        // Async: this process serves the probe's requests meanwhile.
        const child = spawn(process.execPath, ['--input-type=module', '-e', probe], { cwd: fileURLToPath(new URL('../../..', import.meta.url)), env: { ...process.env, NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem') } });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d));
        child.stderr.on('data', (d: Buffer) => (stderr += d));
        child.on('exit', (status) => resolve({ status, stdout, stderr }));
      });
      expect(run.status, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout.trim().split('\n').pop()!)).toEqual({
        local: { host: `localhost:${port}` },
        pinned: { host: `agent.invalid:${port}` },
        otherName: 'ERR_TLS_CERT_ALTNAME_INVALID',
        localName: { host: `localhost:${port}` },
        otherLocalName: 'ERR_TLS_CERT_ALTNAME_INVALID',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
