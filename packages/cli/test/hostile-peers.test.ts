import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey, saveKeyFile } from '@aauth-kit/core';
import { run } from '../src/run.js';
import { revoke } from '../src/commands/revoke.js';
import { listen, type Listening } from '../../../test/fixtures/http.js';

// `aauth request` and `aauth revoke` against peers that misbehave (found by a CLI audit): a body
// that stalls or never ends, answers of the wrong shape, escape sequences. In process, over loopback.

let dir: string;
let keyFile: string;
let server: Listening;
let base = '';
const routes = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aauth-cli-hostile-'));
  keyFile = join(dir, 'agent.jwk');
  saveKeyFile(keyFile, generateKey());
  server = await listen((req, res) => {
    const route = routes.get(new URL(req.url ?? '/', 'http://x').pathname);
    if (route) route(req, res);
    else {
      res.statusCode = 404;
      res.end();
    }
  });
  base = server.origin;
});
afterAll(async () => {
  await server.close();
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

describe('escape sequences from peers are shown escaped outside the body (before: printed raw, driving the terminal)', () => {
  const ESC = '\u001b';
  it('request: a refusal\'s body and a JSON error_description in the error message', async () => {
    routes.set('/e401-body', (_req, res) => {
      res.statusCode = 401;
      res.setHeader('aauth', 'require=auth-token');
      res.end(`line1\n${ESC}[2J${ESC}]0;PWNED\u0007 cleared\u009b your screen\n`);
    });
    routes.set('/e401-json', (req, res) => {
      res.setHeader('aauth', 'require=auth-token');
      json(401, JSON.stringify({ error: 'invalid_request', error_description: `${ESC}[2Jgotcha\u202e` }))(req, res);
    });
    for (const path of ['/e401-body', '/e401-json']) {
      const r = await aauth('request', `${base}${path}`, '--key', keyFile);
      expect(r.code).toBe(1);
      expect(r.err.trim().split('\n')).toHaveLength(1);
      expect(r.err).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
      expect(r.err).toContain('\\u001b[2J');
    }
  });
  it('request -v: the refusal body among stderr\'s lines; -i: the status text', async () => {
    const v = await aauth('request', `${base}/e401-body`, '--key', keyFile, '-v');
    expect(v.err).not.toContain(ESC);
    expect(v.err).toContain('\\u001b]0;PWNED\\u0007');
    // node's http server refuses such a status text: a raw one.
    const raw = (await import('node:net')).createServer((socket) => {
      socket.once('data', () => socket.end(`HTTP/1.1 200 ${ESC}[31mRED\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok`));
    });
    raw.listen(0, '127.0.0.1');
    await new Promise((r) => raw.once('listening', r));
    try {
      const i = await aauth('request', `http://127.0.0.1:${(raw.address() as AddressInfo).port}/`, '--key', keyFile, '-i');
      expect(i.code).toBe(0);
      expect(i.out).toMatch(/^HTTP 200 \\u001b\[31mRED\n/);
      expect(i.bytes.toString()).toBe('ok');
    } finally {
      raw.close();
    }
  });
  it('revoke: a refusal\'s error and description, and the fields of a success line', async () => {
    const refused = await revokeAt('escerr', json(400, JSON.stringify({ error: `${ESC}[31mbad`, error_description: `${ESC}[2Jcleared` })));
    expect(refused.code).toBe(1);
    expect(refused.err).toBe('aauth revoke: 400 \\u001b[31mbad: \\u001b[2Jcleared\n');
    const ok = await revokeAt('esc', json(200, JSON.stringify({ revoked: 'grant', agent: `${ESC}]0;PWNED\u0007`, sub: `${ESC}[2J`, iss: `x\u009b`, until: 1 })));
    expect(ok.code).toBe(0);
    expect(ok.out).toBe('revoked the grant of user \\u001b[2J to agent \\u001b]0;PWNED\\u0007 at x\\u009b (kept until 1970-01-01T00:00:01.000Z)\n');
    const asJson = await revokeAt('esc', json(200, JSON.stringify({ revoked: 'agent', agent: `a\u009b\u202e` })), '--json');
    expect(asJson.out).toBe('{"revoked":"agent","agent":"a\\u009b\\u202e"}\n');
    expect(JSON.parse(asJson.out)).toEqual({ revoked: 'agent', agent: 'a\u009b\u202e' });
  });
});
