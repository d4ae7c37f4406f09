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
