import { spawn, spawnSync } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { computeThumbprint, generateKey } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import { createMemoryReplayStore } from '@aauth-kit/verifier';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The `aauth` command (@aauth-kit/cli) against an @aauth-kit/express resource and its own embedded
// auth server, over real loopback HTTP: cross-package, so it lives here (moved from
// packages/cli/test/cli.test.ts, assertions unchanged). The built binary, run as a user runs it
// (`npm test` builds before testing).
const bin = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url));
const realmFile = fileURLToPath(new URL('../keycloak-realm/aauth-test-realm.json', import.meta.url));

function aauth(args: string[], input?: string) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 30_000, ...(input === undefined ? {} : { input }) });
}

/** Like `aauth` but without blocking this process, which serves the loopback resources. */
function aauthAsync(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.once('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'aauth-cli-request-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('aauth request and aauth auth-server against real loopback servers', () => {
  let authProc: ReturnType<typeof spawn> | undefined;
  let issuer = '';
  let resourceUrl = '';
  let resourceServer: ReturnType<ReturnType<typeof express>['listen']> | undefined;
  const keyFile = () => join(dir, 'client.jwk');
  let bareServer: ReturnType<ReturnType<typeof express>['listen']> | undefined;
  let bareIdentity = '';

  beforeAll(async () => {
    // The embedded auth server as its own process, through the CLI.
    authProc = spawn(process.execPath, [bin, 'auth-server', '--realm', realmFile, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const line = await new Promise<string>((resolve, reject) => {
      let buf = '';
      authProc!.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        const m = /listening on (\S+)/.exec(buf);
        if (m) resolve(buf);
      });
      authProc!.once('exit', (code) => reject(new Error(`auth-server exited ${code}`)));
    });
    issuer = /issuer (\S+)/.exec(line)![1]!;
    // A resource that needs an auth token with a scope that needs no consent.
    const app = express();
    resourceServer = app.listen(0, '127.0.0.1');
    await new Promise((r) => resourceServer!.once('listening', r));
    const identity = `http://localhost:${(resourceServer.address() as AddressInfo).port}`;
    const resource = createResource({ identity, key: generateKey(), authServer: issuer, replay: { store: createMemoryReplayStore() } });
    app.use(resource.wellKnown());
    app.get('/hello', resource.require({ level: 'signature' }), (req, res) => {
      res.json({ hello: req.aauth!.agent });
    });
    app.post('/analyze', resource.require({ scope: 'market-analysis:analyze' }), express.json(), (req, res) => {
      res.json({ got: req.body, sub: req.aauth!.sub ?? null, agent: req.aauth!.agent });
    });
    // Issue 11: a resource that also sends Signature-Error (section 11), and a plain refusal.
    const strict = createResource({ identity, key: generateKey(), authServer: issuer, requirementHeader: true, replay: { store: createMemoryReplayStore() } });
    app.get('/strict', strict.require({ scope: 'market-analysis:analyze' }), (_req, res) => {
      res.json({ ok: true });
    });
    app.get('/forbidden', (_req, res) => {
      res.status(403).set('signature-error', 'error=invalid_key').json({ error: 'access_denied', error_description: 'Not for you' });
    });
    // What the agent sent, after the resource verified it.
    app.get('/signature', resource.require({ level: 'signature' }), (req, res) => {
      res.json({ signature: req.headers.signature, signatureKey: req.headers['signature-key'], agent: req.aauth!.agent });
    });
    // An identity whose metadata is not served: the resource cannot fetch the agent's key.
    bareServer = express().listen(0, '127.0.0.1');
    await new Promise((r) => bareServer!.once('listening', r));
    bareIdentity = `http://localhost:${(bareServer.address() as AddressInfo).port}`;
    resourceUrl = identity;
    expect(aauth(['keygen', '--out', keyFile()]).status).toBe(0);
  }, 30_000);

  afterAll(async () => {
    resourceServer?.close();
    bareServer?.close();
    if (authProc && authProc.exitCode === null) {
      authProc.kill('SIGTERM');
      await new Promise((r) => authProc!.once('exit', r));
    }
  });

  it('auth-server serves the issuer metadata where it says', async () => {
    const r = await fetch(`${issuer}/.well-known/aauth-issuer.json`);
    expect(r.status).toBe(200);
    expect(((await r.json()) as { issuer: string }).issuer).toBe(issuer);
  });

  it('request signs a GET (pseudonymous hwk without --identity)', async () => {
    const r = await aauthAsync(['request', `${resourceUrl}/hello`, '--key', keyFile()]);
    expect(r.status).toBe(0);
    const jwk = JSON.parse(readFileSync(keyFile(), 'utf8')) as Record<string, string>;
    expect(JSON.parse(r.stdout)).toEqual({ hello: `pseudonymous:${computeThumbprint(jwk)}` });
  });

  it('request answers a challenge: token from the auth server, retry, body intact; -v prints each hop', async () => {
    const r = await aauthAsync(['request', `${resourceUrl}/analyze`, '--key', keyFile(), '-d', '{"sku":"A-1"}', '--auth-server', issuer, '-v']);
    expect(r.stderr).toContain('"type":"challenged"');
    expect(r.stderr).toContain('"type":"exchanged"');
    expect(r.stderr).toContain('HTTP 200');
    expect(r.status).toBe(0);
    const body = JSON.parse(r.stdout) as { got: unknown; agent: string };
    expect(body.got).toEqual({ sku: 'A-1' });
    expect(body.agent).toMatch(/^pseudonymous:/);
  });

  it('request refuses to follow a challenge to an auth server it was not told to trust', async () => {
    const r = await aauthAsync(['request', `${resourceUrl}/analyze`, '--key', keyFile(), '-d', '{}']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('auth_server_untrusted');
    // The fix, as a flag (the library's message names its option).
    expect(r.stderr.trim()).toMatch(new RegExp(`which this agent does not trust: .* \\(aauth request: --auth-server ${issuer.replace(/[.]/g, '\\.')}\\)$`));
  });

  it('request -i/-v print no whole token: a challenge\'s resource token is shortened (README: the command never prints a token)', async () => {
    const r = await aauthAsync(['request', `${resourceUrl}/analyze`, '--key', keyFile(), '-d', '{}', '-i']);
    expect(r.status).toBe(1);
    const aauthHeader = r.stdout.split('\n').find((l) => l.startsWith('aauth: '));
    expect(aauthHeader).toMatch(/resource-token="eyJ[A-Za-z0-9_-]{9}…[A-Za-z0-9_-]{6}"/);
    expect(r.stdout).not.toMatch(/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+/);
  });

  it('request writes a binary body as sent (before: bytes that are not UTF-8 became U+FFFD)', async () => {
    const bytes = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x41, 0xc3]);
    const server = createHttpServer((_req, res) => res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(bytes));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const r = await new Promise<Buffer>((resolve) => {
        const p = spawn(process.execPath, [bin, 'request', `http://127.0.0.1:${(server.address() as AddressInfo).port}/bin`, '--key', keyFile()], { stdio: ['ignore', 'pipe', 'pipe'] });
        const chunks: Buffer[] = [];
        p.stdout.on('data', (d: Buffer) => chunks.push(d));
        p.once('close', () => resolve(Buffer.concat(chunks)));
      });
      expect(r.equals(bytes)).toBe(true);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('--max-time bounds a request to a server that never answers (before: node\'s 300 s headers timeout); a bad value is a usage error', async () => {
    const silent = createHttpServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const r = await aauthAsync(['request', `http://127.0.0.1:${(silent.address() as AddressInfo).port}/x`, '--key', keyFile(), '--max-time', '0.5']);
      expect([r.status, r.stderr]).toEqual([1, 'aauth request: resource_unreachable: no answer within 0.5 s (--max-time)\n']);
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
    expect(aauth(['request', 'http://127.0.0.1:9/x', '--key', keyFile(), '--max-time', '0']).status).toBe(2);
  });

  it('a server that closes the connection without answering: exit 1 and a message (before: exit 0, nothing printed)', async () => {
    const closing = createNetServer((socket) => socket.end());
    await new Promise<void>((resolve) => closing.listen(0, '127.0.0.1', resolve));
    const port = (closing.address() as AddressInfo).port;
    try {
      for (const args of [
        ['request', `http://127.0.0.1:${port}/x`, '--key', keyFile()],
        ['revoke', '--auth-server', `http://127.0.0.1:${port}/realms/r`, '--client-id', 'c', '--client-secret', 's', '--jti', 'j'],
      ]) {
        const r = await aauthAsync(args);
        expect(r.status, r.stderr).toBe(1);
        expect(r.stderr).toMatch(/closed the connection|other side closed|cannot be reached|could not be reached/);
      }
    } finally {
      await new Promise((resolve) => closing.close(resolve));
    }
  });

  it('request -v shows the refusal the agent gave up on: status, AAuth and Signature-Error headers, body', async () => {
    const r = await aauthAsync(['request', `${resourceUrl}/strict`, '--key', keyFile(), '--identity', bareIdentity, '--auth-server', issuer, '-v']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('* the agent gave up on this answer (challenge_missing_resource_token):');
    expect(r.stderr).toContain('HTTP 401 Unauthorized');
    expect(r.stderr).toContain(`aauth: require=auth-token; auth-server="${issuer}"`);
    expect(r.stderr).toContain('signature-error: error=invalid_signature');
    expect(r.stderr).toMatch(/\{"error":"invalid_signature","error_description":"[^"]*aauth-agent[^"]*"\}/);
    // The last line: the code and the resource's reason.
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(
      /^aauth request: challenge_missing_resource_token: The auth-token challenge carries no resource token; the resource answered 401 invalid_signature: .*aauth-agent.* \(Signature-Error: error=invalid_signature\)$/,
    );
    expect(r.stdout).toBe('');
  });

  it('request -i prints that refusal on stdout; without -i or -v only the reason is printed', async () => {
    const args = ['request', `${resourceUrl}/strict`, '--key', keyFile(), '--identity', bareIdentity, '--auth-server', issuer];
    const included = await aauthAsync([...args, '-i']);
    expect(included.status).toBe(1);
    expect(included.stdout).toMatch(/^HTTP 401 Unauthorized\n/);
    expect(included.stdout).toContain('"error":"invalid_signature"');
    const quiet = await aauthAsync(args);
    expect(quiet.status).toBe(1);
    expect(quiet.stdout).toBe('');
    expect(quiet.stderr.trim().split('\n')).toHaveLength(1);
    expect(quiet.stderr).toContain('the resource answered 401 invalid_signature: ');
  });

  it('request -v on a final 4xx prints status and headers to stderr and the body', async () => {
    const r = await aauthAsync(['request', `${resourceUrl}/forbidden`, '--key', keyFile(), '-v']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('HTTP 403 Forbidden');
    expect(r.stderr).toContain('signature-error: error=invalid_key');
    expect(JSON.parse(r.stdout)).toEqual({ error: 'access_denied', error_description: 'Not for you' });
  });

  describe('request --signature-encoding and --signature-key-form (the original Python agents, the newer draft)', () => {
    const cases = [
      { args: [], signature: /^sig=:[A-Za-z0-9+/]{86}==:$/, signatureKey: /^sig=\(scheme=hwk kty="OKP" crv="Ed25519" x="[A-Za-z0-9_-]{43}"\)$/ },
      { args: ['--signature-encoding', 'base64'], signature: /^sig=:[A-Za-z0-9+/]{86}==:$/, signatureKey: /^sig=\(scheme=hwk / },
      { args: ['--signature-encoding', 'base64url'], signature: /^sig=:[A-Za-z0-9_-]{86}:$/, signatureKey: /^sig=\(scheme=hwk / },
      { args: ['--signature-key-form', 'dictionary'], signature: /^sig=:[A-Za-z0-9+/]{86}==:$/, signatureKey: /^sig=hwk;kty="OKP";crv="Ed25519";x="[A-Za-z0-9_-]{43}";alg="Ed25519"$/ },
      { args: ['--signature-encoding', 'base64url', '--signature-key-form', 'parenthesised'], signature: /^sig=:[A-Za-z0-9_-]{86}:$/, signatureKey: /^sig=\(scheme=hwk / },
    ];
    for (const c of cases) {
      it(`${c.args.join(' ') || '(defaults)'}: the headers change and the resource verifies them`, async () => {
        const r = await aauthAsync(['request', `${resourceUrl}/signature`, '--key', keyFile(), ...c.args]);
        expect(r.stderr).toBe('');
        expect(r.status).toBe(0);
        const seen = JSON.parse(r.stdout) as { signature: string; signatureKey: string; agent: string };
        expect(seen.signature).toMatch(c.signature);
        expect(seen.signatureKey).toMatch(c.signatureKey);
        expect(seen.agent).toMatch(/^pseudonymous:/);
      });
    }
    it('an unknown value exits 2 naming the option and the choices', async () => {
      for (const [option, value, choices] of [
        ['--signature-encoding', 'hex', 'base64 or base64url'],
        ['--signature-key-form', 'json', 'parenthesised or dictionary'],
      ] as const) {
        const r = await aauthAsync(['request', `${resourceUrl}/signature`, '--key', keyFile(), option, value]);
        expect(r.status).toBe(2);
        expect(r.stderr.trim()).toBe(`aauth request: ${option} must be ${choices} (got "${value}")`);
      }
    });
  });

  it('request with a missing key file or a bad URL exits with a clear reason', async () => {
    const noKey = await aauthAsync(['request', `${resourceUrl}/hello`]);
    expect(noKey.status).toBe(2);
    expect(noKey.stderr).toContain('--key FILE is required');
    const badUrl = await aauthAsync(['request', 'ftp://example.com/', '--key', keyFile()]);
    expect(badUrl.status).toBe(2);
    expect(badUrl.stderr).toContain('not an http(s) URL');
  });

  it('a bad --auth-server or --identity is a bad argument (exit 2) named by its flag, not by the library option', async () => {
    const slash = await aauthAsync(['request', `${resourceUrl}/hello`, '--key', keyFile(), '--auth-server', `${issuer}/`]);
    expect(slash.status).toBe(2);
    expect(slash.stderr).toBe(`aauth request: --auth-server ${issuer}/ must not end with a slash\n`);
    const identity = await aauthAsync(['request', `${resourceUrl}/hello`, '--key', keyFile(), '--identity', 'http://localhost:3000/']);
    expect(identity.status).toBe(2);
    expect(identity.stderr).toMatch(/^aauth request: --identity http:\/\/localhost:3000\/ must not end with a slash/);
  });

  it('a resource that is down: the URL and the network reason, exit 1 (before: "aauth: fetch failed")', async () => {
    const gone = express().listen(0, '127.0.0.1');
    await new Promise((resolve) => gone.once('listening', resolve));
    const port = (gone.address() as { port: number }).port;
    await new Promise((resolve) => gone.close(resolve));
    const r = await aauthAsync(['request', `http://127.0.0.1:${port}/analyze`, '--key', keyFile()]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`aauth request: resource_unreachable: Cannot reach GET http://127.0.0.1:${port}/analyze: fetch failed (connect ECONNREFUSED 127.0.0.1:${port})\n`);
  });

  it('revoke at an auth server without a revocation endpoint says what to check (before: "404 HTTP 404")', async () => {
    const r = await aauthAsync(['revoke', '--auth-server', issuer, '--client-id', 'x', '--client-secret', 'y', '--jti', 'j-1']);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `aauth revoke: ${issuer}/protocol/aauth/revoke answered 404: no revocation endpoint there. Check --auth-server (the issuer, ${issuer}), ` +
        'and start the auth server with revocation clients (aauth auth-server --revocation-client ID, or createAuthServer({ revocation: { store, clients } }))\n',
    );
  });

  it('auth-server with a malformed realm file exits 2 naming the problem', () => {
    const bad = join(dir, 'bad-realm.json');
    writeFileSync(bad, JSON.stringify({ realm: 42 }));
    const r = aauth(['auth-server', '--realm', bad, '--port', '0']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('realm');
  });
});
