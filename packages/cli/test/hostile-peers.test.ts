import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey, saveKeyFile } from '@aauth-kit/core';
import { run } from '../src/run.js';
import { revoke } from '../src/commands/revoke.js';

// `aauth request` and `aauth revoke` against peers that misbehave (found by a CLI audit): a body
// that stalls or never ends, answers of the wrong shape, escape sequences. In process, over loopback.

let dir: string;
let keyFile: string;
let server: Server;
let base = '';
const routes = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aauth-cli-hostile-'));
  keyFile = join(dir, 'agent.jwk');
  saveKeyFile(keyFile, generateKey());
  server = createServer((req, res) => {
    const route = routes.get(new URL(req.url ?? '/', 'http://x').pathname);
    if (route) route(req, res);
    else {
      res.statusCode = 404;
      res.end();
    }
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

async function aauth(...args: string[]): Promise<{ code: number; out: string; err: string; bytes: Buffer }> {
  let out = '';
  let err = '';
  const chunks: Buffer[] = [];
  const code = await run(args, {
    stdout: (t) => void (out += t),
    stdoutBytes: (b) => void chunks.push(Buffer.from(b)),
    stderr: (t) => void (err += t),
    readStdin: async () => '',
  });
  return { code, out, err, bytes: Buffer.concat(chunks) };
}

/** A fetch answering `status` with a body stream that fails with `error` after `first`. */
function fetchFailingBody(status: number, first: string, error: unknown): typeof fetch {
  return (async () =>
    new Response(
      new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(first));
          controller.error(error);
        },
      }),
      { status, headers: { 'content-type': 'application/json' } },
    )) as typeof fetch;
}

const revokeArgs = ['--auth-server', 'http://127.0.0.1:1/realms/r', '--client-id', 'c', '--client-secret', 's', '--agent', 'a'];

describe('--max-time and the body (before: "aauth: error.code?.startsWith is not a function")', () => {
  it('request: a body that stalls after the headers is "the body did not arrive within S s", exit 1', async () => {
    routes.set('/stall-body', (_req, res) => {
      res.setHeader('content-type', 'text/plain');
      res.write('part');
    });
    const r = await aauth('request', `${base}/stall-body`, '--key', keyFile, '--max-time', '0.5');
    expect(r.code).toBe(1);
    expect(r.err).toBe('aauth request: resource_unreachable: the body did not arrive within 0.5 s (--max-time)\n');
  });
  it('revoke: a body that stalls past its 15 s limit is an answer that did not arrive, exit 1', async () => {
    let err = '';
    const code = await revoke(revokeArgs, { stdout: () => {}, stderr: (t) => void (err += t), readStdin: async () => '' }, fetchFailingBody(200, '{"rev', new DOMException('The operation was aborted due to timeout', 'TimeoutError')));
    expect(code).toBe(1);
    expect(err).toBe('aauth revoke: http://127.0.0.1:1/realms/r/protocol/aauth/revoke answered 200 but the body did not arrive within 15 s\n');
  });
});

/** `aauth revoke --agent a` at `{base}/realms/{name}` whose revoke endpoint answers with `answer`. */
async function revokeAt(name: string, answer: (req: IncomingMessage, res: ServerResponse) => void, ...extra: string[]) {
  routes.set(`/realms/${name}/protocol/aauth/revoke`, answer);
  return aauth('revoke', '--auth-server', `${base}/realms/${name}`, '--client-id', 'c', '--client-secret', 's', '--agent', 'a', ...extra);
}

const json = (status: number, body: string) => (_req: IncomingMessage, res: ServerResponse) => {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.end(body);
};

describe('revoke takes only a revocation for success (before: any 200 was "revoked ...", null crashed)', () => {
  for (const [name, body, shown] of [
    ['text', 'OK', '"OK"'],
    ['empty', '', 'an empty body'],
    ['array', '[]', '"[]"'],
    ['null', 'null', '"null"'],
    ['other', '{"active":true}', '"{\\"active\\":true}"'],
  ] as const) {
    it(`a 200 with ${name === 'other' ? 'another JSON object' : `"${body}"`} is an error naming the server and what it sent, exit 1`, async () => {
      const r = await revokeAt(name, json(200, body));
      expect(r.code).toBe(1);
      expect(r.out).toBe('');
      expect(r.err).toBe(
        `aauth revoke: ${base}/realms/${name}/protocol/aauth/revoke answered 200 without a revocation (a JSON object with "revoked": token, agent, grant); it sent ${shown}. Check --auth-server: it must be the embedded auth server's issuer\n`,
      );
    });
  }
  it('what the server sent is cut to 200 characters and its control characters escaped', async () => {
    const r = await revokeAt('long', json(200, `\u001b[2J${'x'.repeat(5000)}`));
    expect(r.code).toBe(1);
    expect(r.err).not.toContain('\u001b');
    expect(r.err).toContain(`it sent "\\u001b[2J${'x'.repeat(196)}...".`);
  });
  it('a redirect is not followed and not success: it names where it pointed, exit 1', async () => {
    let followed = false;
    routes.set('/elsewhere', (_req, res) => {
      followed = true;
      json(200, '{"revoked":"agent","agent":"a","iss":"x","until":1}')(_req, res);
    });
    const r = await revokeAt('redirect', (_req, res) => {
      res.statusCode = 307;
      res.setHeader('location', `${base}/elsewhere`);
      res.end();
    });
    expect(r.code).toBe(1);
    expect(followed).toBe(false);
    expect(r.err).toBe(`aauth revoke: ${base}/realms/redirect/protocol/aauth/revoke answered 307, a redirect to "${base}/elsewhere": not followed, nothing was revoked. Give --auth-server the issuer exactly as the auth server prints it\n`);
  });
  it('an until no date can hold is printed as given (before: "Invalid time value" after the server revoked)', async () => {
    const r = await revokeAt('until', json(200, '{"revoked":"agent","agent":"a","iss":"http://x","until":1e20}'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toBe('revoked every token of agent a at http://x (kept until 100000000000000000000)\n');
  });
  it('a real answer still prints what was revoked', async () => {
    const r = await revokeAt('ok', json(200, '{"revoked":"grant","agent":"a","sub":"u1","iss":"http://x","until":0}'));
    expect(r.code).toBe(0);
    expect(r.out).toBe('revoked the grant of user u1 to agent a at http://x (kept until 1970-01-01T00:00:00.000Z)\n');
  });
});

/** `res` writes 1 MiB pieces for as long as the client reads. */
function endless(req: IncomingMessage, res: ServerResponse): void {
  const piece = Buffer.alloc(1 << 20, 0x41);
  const pump = () => {
    while (!res.destroyed && res.write(piece));
  };
  res.on('drain', pump);
  req.socket.on('close', () => res.destroy());
  pump();
}

describe('bodies are not read whole (before: a never-ending body grew memory to 4 GB)', () => {
  it('request writes the body as it arrives, bytes exact, after -i\'s status and headers', async () => {
    let finish: () => void = () => {};
    routes.set('/pieces', (_req, res) => {
      res.setHeader('content-type', 'application/octet-stream');
      res.write(Buffer.from([0xff, 0x00, 0x66, 0x69, 0x72, 0x73, 0x74]));
      finish = () => res.end(Buffer.from([0xc3]));
    });
    let out = '';
    const chunks: Buffer[] = [];
    const done = run(['request', `${base}/pieces`, '--key', keyFile, '-i', '--max-time', '10'], {
      stdout: (t) => void (out += t),
      stdoutBytes: (b) => void chunks.push(Buffer.from(b)),
      stderr: () => {},
      readStdin: async () => '',
    });
    // The first piece is written while the server still holds the rest back.
    const deadline = Date.now() + 5000;
    while (Buffer.concat(chunks).length < 7 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const early = Buffer.concat(chunks);
    finish();
    expect(await done).toBe(0);
    expect(early).toEqual(Buffer.from([0xff, 0x00, 0x66, 0x69, 0x72, 0x73, 0x74]));
    expect(Buffer.concat(chunks)).toEqual(Buffer.from([0xff, 0x00, 0x66, 0x69, 0x72, 0x73, 0x74, 0xc3]));
    expect(out).toMatch(/^HTTP 200 OK\n(.+: .*\n)*content-type: application\/octet-stream\n(.+: .*\n)*\n$/);
  });
  it('request passes an endless body through without holding it, until --max-time', async () => {
    routes.set('/endless', endless);
    let written = 0;
    let most = 0;
    let err = '';
    const code = await run(['request', `${base}/endless`, '--key', keyFile, '--max-time', '1'], {
      stdout: () => {},
      stdoutBytes: (b) => {
        written += b.byteLength;
        most = Math.max(most, b.byteLength);
      },
      stderr: (t) => void (err += t),
      readStdin: async () => '',
    });
    expect(code).toBe(1);
    expect(err).toBe('aauth request: resource_unreachable: the body did not arrive within 1 s (--max-time)\n');
    expect(written).toBeGreaterThan(4 << 20);
    expect(most).toBeLessThanOrEqual(1 << 20);
  });
  it('revoke reads at most 64 KiB of an answer: an endless one is refused at once, exit 1', async () => {
    const started = Date.now();
    const r = await revokeAt('endless', endless);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`aauth revoke: ${base}/realms/endless/protocol/aauth/revoke answered 200 with a body of more than 64 KiB, which is no answer of a revocation endpoint: nothing is known to be revoked. Check --auth-server\n`);
  });
});
