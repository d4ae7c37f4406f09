import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createAgent, type Agent } from '@aauth-kit/agent';
import { type AAuthError, generateKey } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import express, { type Request, type Response } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, listen, type Listening } from '../../test/fixtures/http.js';
import { hostedAgent, type HostedAgent } from '../../test/fixtures/hosted-agent.js';
import { repoRoot, venvPython } from '../fixtures/paths.js';
import { startPeer, type PeerProcess } from '../fixtures/peer-process.js';

// Issue 14, section 2: aauth==0.1.1 from PyPI (the client library the original supply-chain demo
// pinned) against the kit, both ways, over loopback. Python glue: driver.py (signs with aauth and
// sends) and verifier_server.py (verifies with aauth and answers a verdict).

const here = join(repoRoot, 'interop', 'aauth-0.1');
const run = promisify(execFile);

// ---------------------------------------------------------------------------------------------
// Python -> kit: aauth 0.1.1 signs, a real express resource (@aauth-kit/express) verifies.

interface DriverRequest {
  name: string;
  method: string;
  url: string;
  body?: string;
  cover_body?: boolean;
  tamper_body?: string;
  wrong_key?: boolean;
  replay?: boolean;
}

interface DriverAnswer {
  name: string;
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string>;
  sent: Record<string, string>;
}

interface DriverRun {
  agent: { scheme: string; id: string | null; kid: string; thumbprint: string; other_jwk: { x: string } };
  answers: Map<string, DriverAnswer>;
  served: Record<string, number>;
}

/** Run driver.py once: aauth 0.1.1 signs every request with one fresh key and sends it. */
async function drive(scheme: 'hwk' | 'jwks_uri', requests: DriverRequest[]): Promise<DriverRun> {
  const args = [join(here, 'driver.py'), '--scheme', scheme, ...requests.flatMap((r) => ['--request', JSON.stringify(r)])];
  const { stdout } = await run(venvPython('aauth-0.1'), args, { cwd: here, timeout: 30_000 });
  const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const answers = new Map<string, DriverAnswer>();
  for (const line of lines.slice(1, -1)) answers.set((line as unknown as DriverAnswer).name, line as unknown as DriverAnswer);
  return { agent: lines[0]!.agent as DriverRun['agent'], answers, served: lines.at(-1)!.served as Record<string, number> };
}

interface KitResource {
  listening: Listening;
  /** The AAuthError code of every refusal, by request path (the resource's onError hook). */
  refusals: Map<string, string>;
}

/** A real express resource on loopback: signature level, body echoed back with what it verified. */
async function kitResource(requireContentDigest: boolean): Promise<KitResource> {
  const refusals = new Map<string, string>();
  const app = express();
  const listening = await listen(app);
  const resource = createResource({
    identity: listening.origin,
    key: generateKey({ kid: 'resource-1' }),
    requireContentDigest,
    requirementHeader: true, // Signature-Error on refusals (wire profile section 11)
    onError: (error: AAuthError, req) => void refusals.set(req.path, error.code),
  });
  app.use(resource.wellKnown());
  app.all('/echo/:name', resource.require({ level: 'signature' }), express.text({ type: () => true }), (req: Request, res: Response) => {
    res.json({ scheme: req.aauth!.scheme, agent: req.aauth!.agent, thumbprint: req.aauth!.thumbprint, body: typeof req.body === 'string' ? req.body : '' });
  });
  return { listening, refusals };
}

describe('aauth 0.1.1 signs, the kit resource verifies', () => {
  let strict: KitResource;
  let relaxed: KitResource;

  beforeAll(async () => {
    strict = await kitResource(true);
    relaxed = await kitResource(false); // the documented relaxation for the demo's agents
  });
  afterAll(async () => {
    await Promise.all([strict?.listening.close(), relaxed?.listening.close()]);
  });

  describe.each(['hwk', 'jwks_uri'] as const)('scheme %s', (scheme) => {
    const order = JSON.stringify({ sku: 'A-1', qty: 3 });
    let r: DriverRun;

    beforeAll(async () => {
      const at = (k: KitResource, name: string): string => `${k.listening.origin}/echo/${scheme}-${name}`;
      r = await drive(scheme, [
        { name: 'get', method: 'GET', url: `${at(strict, 'get')}?item=7&view=full` },
        { name: 'post-covered', method: 'POST', url: at(strict, 'post-covered'), body: order, cover_body: true },
        { name: 'post-uncovered', method: 'POST', url: at(strict, 'post-uncovered'), body: order },
        { name: 'post-uncovered-relaxed', method: 'POST', url: at(relaxed, 'post-uncovered-relaxed'), body: order },
        { name: 'tampered', method: 'POST', url: at(strict, 'tampered'), body: order, cover_body: true, tamper_body: '{"sku":"A-1","qty":300}' },
        { name: 'wrong-key', method: 'GET', url: at(strict, 'wrong-key'), wrong_key: true },
        { name: 'replay', method: 'POST', url: at(strict, 'replay'), body: '{"sku":"B-2","qty":1}', cover_body: true, replay: true },
      ]);
    });

    const answer = (name: string): DriverAnswer => {
      const a = r.answers.get(name);
      if (!a) throw new Error(`driver printed no answer for ${name}`);
      return a;
    };
    /** Who the resource saw: the thumbprint aauth computed (RFC 7638 on both sides) and the agent. */
    const expectCaller = (a: DriverAnswer): void => {
      expect(a.body.scheme).toBe(scheme);
      expect(a.body.thumbprint).toBe(r.agent.thumbprint);
      expect(a.body.agent).toBe(scheme === 'hwk' ? `pseudonymous:${r.agent.thumbprint}` : r.agent.id);
    };
    /** A 401 invalid_signature with the section-11 header, and the kit's code for it. */
    const expectRefused = (name: string, code: string, description: string | RegExp, route = name): void => {
      const a = answer(name);
      expect(a.status).toBe(401);
      if (typeof description === 'string') expect(a.body).toEqual({ error: 'invalid_signature', error_description: description });
      else {
        expect(Object.keys(a.body).sort()).toEqual(['error', 'error_description']);
        expect(a.body.error).toBe('invalid_signature');
        expect(a.body.error_description).toMatch(description);
      }
      expect(a.headers['signature-error']).toBe('error=invalid_signature');
      expect(a.headers.aauth).toBe('require=pseudonym');
      expect(strict.refusals.get(`/echo/${scheme}-${route}`)).toBe(code);
    };

    it('GET with a query: 200, @query covered, base64url signature accepted', () => {
      const a = answer('get');
      expect(a.status).toBe(200);
      expectCaller(a);
      expect(a.sent['Signature-Input']).toMatch(/^sig=\("@method" "@authority" "@path" "@query" "signature-key"\);created=\d+$/);
      // aauth emits unpadded base64url, which the kit accepts (wire profile section 3).
      expect(a.sent.Signature).toMatch(/^sig=:[A-Za-z0-9_-]{86}:$/);
      const keyHeader = scheme === 'hwk' ? /^sig=\(scheme=hwk kty="OKP" crv="Ed25519" x="[A-Za-z0-9_-]{43}"\)$/ : /^sig=\(scheme=jwks_uri id="http:\/\/127\.0\.0\.1:\d+" kid="key-1"\)$/;
      expect(a.sent['Signature-Key']).toMatch(keyHeader);
    });

    it('POST covering content-type and content-digest: 200, the body arrives', () => {
      const a = answer('post-covered');
      expect(a.status).toBe(200);
      expectCaller(a);
      expect(a.body.body).toBe(order);
      expect(a.sent['Signature-Input']).toMatch(/^sig=\("@method" "@authority" "@path" "content-type" "content-digest" "signature-key"\);created=\d+$/);
      expect(a.sent['Content-Digest']).toBe(`sha-256=:${createHash('sha256').update(order).digest('base64')}:`);
    });

    it('the demo-style POST (body not covered) is refused by default: digest_missing', () => {
      expect(answer('post-uncovered').sent['Signature-Input']).toMatch(/^sig=\("@method" "@authority" "@path" "signature-key"\);created=\d+$/);
      expectRefused('post-uncovered', 'digest_missing', 'The request has a body but the signature does not cover content-digest');
    });

    it('... and accepted with the documented relaxation requireContentDigest: false', () => {
      const a = answer('post-uncovered-relaxed');
      expect(a.status).toBe(200);
      expectCaller(a);
      expect(a.body.body).toBe(order);
      expect(relaxed.refusals.size).toBe(0);
    });

    it('a tampered body (Content-Digest left as signed) is refused: digest_mismatch', () => {
      expectRefused('tampered', 'digest_mismatch', 'Content-Digest sha-256 does not match the received body');
    });

    it('a signature by another key than the one Signature-Key names is refused: signature_invalid', () => {
      const a = answer('wrong-key');
      // hwk: the inline key is the other one; jwks_uri: the kid names the other key of the JWKS.
      expect(a.sent['Signature-Key']).toContain(scheme === 'hwk' ? `x="${r.agent.other_jwk.x}"` : 'kid="other-1"');
      // The description names what this side verified the signature for (@authority, @path).
      expectRefused('wrong-key', 'signature_invalid', new RegExp(`^The signature does not verify with the signing key; this side verified it for @authority "[^"]+" and @path "/echo/${scheme}-wrong-key": if the key is right`));
    });

    it('aauth adds no nonce: the same signed POST sent twice is refused the second time (signature_replayed)', () => {
      expect(answer('replay').status).toBe(200);
      expect(answer('replay').sent['Signature-Input']).not.toContain('nonce');
      expectRefused('replay#replay', 'signature_replayed', 'The signature was already used', 'replay');
    });

    it('jwks_uri: the kit discovered the key at the agent (aauth-agent.json, then jwks.json)', () => {
      if (scheme === 'hwk') {
        expect(r.served).toEqual({});
        return;
      }
      expect(r.served['/.well-known/aauth-agent.json']).toBeGreaterThanOrEqual(1);
      expect(r.served['/jwks.json']).toBeGreaterThanOrEqual(1);
      expect(Object.keys(r.served).sort()).toEqual(['/.well-known/aauth-agent.json', '/jwks.json']);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// kit -> Python: the kit's agent signs, aauth 0.1.1's RequestVerifier verifies.

interface Verdict {
  verdict: 'ok' | 'refused';
  check?: 'aauth' | 'digest';
  reason?: string;
  aauth?: { valid: boolean; error?: string; agent_id?: string | null };
  scheme?: string;
  agent_id?: string | null;
  thumbprint?: string | null;
  covered?: string[];
  digest?: string;
  body?: string;
}

/** An agent whose every request's headers are recorded (the `fetch` seam). */
function recorded(options: Parameters<typeof createAgent>[0]): { agent: Agent; sent: Headers[] } {
  const sent: Headers[] = [];
  const agent = createAgent({
    ...options,
    fetch: (input, init) => {
      sent.push(new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined)));
      return globalThis.fetch(input, init);
    },
  });
  return { agent, sent };
}

const sha256 = (text: string): string => `sha-256=:${createHash('sha256').update(text).digest('base64')}:`;

describe('the kit agent signs, aauth 0.1.1 verifies', () => {
  let peer: PeerProcess;
  let target: string;
  let hosted: HostedAgent;

  beforeAll(async () => {
    const port = await freePort();
    target = `http://127.0.0.1:${port}`;
    peer = await startPeer({
      name: 'aauth-0.1-verifier',
      command: venvPython('aauth-0.1'),
      args: [join(here, 'verifier_server.py'), '--port', String(port)],
      cwd: here,
      readyUrl: `${target}/health`,
      readyStatus: (s) => s === 200,
      timeoutMs: 30_000,
    });
    // jwks_uri: the agent's identity server (its metadata and JWKS) on loopback.
    hosted = await hostedAgent({ signatureEncoding: 'base64url' });
  });
  afterAll(async () => {
    await hosted?.close();
    await peer?.stop();
  });

  async function send(url: string, init: RequestInit): Promise<{ status: number; verdict: Verdict }> {
    const res = await fetch(url, init);
    return { status: res.status, verdict: (await res.json()) as Verdict };
  }

  it('the default RFC 8941 encoding (padded base64) is refused by aauth: it only parses base64url', async () => {
    const { agent, sent } = recorded({ key: generateKey() });
    const res = await agent.fetch(`${target}/market?symbol=ACME`);
    const signature = sent[0]!.get('signature')!;
    expect(signature).toMatch(/^sig=:[A-Za-z0-9+/]{86}==:$/);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({
      verdict: 'refused',
      check: 'aauth',
      reason: `Signature verification failed: Invalid Signature format: ${signature}`,
    });
  });

  it('the newer-draft dictionary form of Signature-Key is refused by aauth: it only parses the parenthesised form', async () => {
    const { agent, sent } = recorded({ key: generateKey(), signatureEncoding: 'base64url', signatureKeyForm: 'dictionary' });
    const res = await agent.fetch(`${target}/market`);
    const signatureKey = sent[0]!.get('signature-key')!;
    expect(signatureKey).toMatch(/^sig=hwk;kty="OKP";crv="Ed25519";x="[A-Za-z0-9_-]{43}";alg="Ed25519"$/); // -09: hwk carries alg
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({
      verdict: 'refused',
      check: 'aauth',
      reason: `Invalid Signature-Key: Invalid Signature-Key format: ${signatureKey}`,
    });
  });

  describe('hwk (signatureEncoding: base64url)', () => {
    const key = generateKey();
    const { agent, sent } = recorded({ key, signatureEncoding: 'base64url' });

    it('GET with a query: ok, the key thumbprint matches', async () => {
      const res = await agent.fetch(`${target}/market?symbol=ACME`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({
        verdict: 'ok',
        scheme: 'hwk',
        agent_id: null,
        thumbprint: key.thumbprint,
        covered: ['@method', '@authority', '@path', '@query', 'signature-key'],
        digest: 'no_body',
      });
      // The kit's base64url form: no padding, decodes to the 64-byte Ed25519 signature.
      const value = /^sig=:([A-Za-z0-9_-]+):$/.exec(sent.at(-1)!.get('signature')!)![1]!;
      expect(value).toHaveLength(86);
      expect(Buffer.from(value, 'base64url')).toHaveLength(64);
      // The kit's nonce rides along: aauth takes @signature-params from the header as sent.
      expect(sent.at(-1)!.get('signature-input')).toMatch(/;created=\d+;nonce="[A-Za-z0-9_-]+"$/);
    });

    it('POST with a JSON body: ok, content-type and content-digest covered and the digest matches', async () => {
      const body = JSON.stringify({ order: 'A-1', qty: 3 });
      const res = await agent.fetch(`${target}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({
        verdict: 'ok',
        scheme: 'hwk',
        thumbprint: key.thumbprint,
        covered: ['@method', '@authority', '@path', 'content-type', 'content-digest', 'signature-key'],
        digest: 'verified',
        body,
      });
      expect(sent.at(-1)!.get('content-digest')).toBe(sha256(body));
    });
  });

  describe('jwks_uri (the kit agent serves its metadata and JWKS on loopback)', () => {
    it('GET and POST: ok, aauth found the key through aauth-agent.json and jwks.json', async () => {
      const get = await hosted.agent.fetch(`${target}/market`);
      expect(get.status).toBe(200);
      expect(await get.json()).toMatchObject({ verdict: 'ok', scheme: 'jwks_uri', agent_id: hosted.identity, covered: ['@method', '@authority', '@path', 'signature-key'] });
      const body = JSON.stringify({ order: 'B-2' });
      const post = await hosted.agent.fetch(`${target}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(post.status).toBe(200);
      expect(await post.json()).toMatchObject({ verdict: 'ok', scheme: 'jwks_uri', agent_id: hosted.identity, digest: 'verified', body });
      expect(hosted.hits).toContain('/.well-known/aauth-agent.json');
      expect(hosted.hits).toContain('/jwks.json');
    });
  });

  describe('negative cases', () => {
    const key = generateKey();
    const agent = createAgent({ key, signatureEncoding: 'base64url' });
    const order = JSON.stringify({ order: 'C-3', qty: 1 });
    const signedOrder = (url: string) =>
      agent.buildSignedRequest({ method: 'POST', url, headers: { 'content-type': 'application/json' }, body: order }).headers;

    it('a tampered body with the signed Content-Digest: aauth accepts the signature (it never checks the digest), the glue refuses digest_mismatch', async () => {
      const url = `${target}/orders`;
      const { status, verdict } = await send(url, { method: 'POST', headers: signedOrder(url), body: '{"order":"C-3","qty":100}' });
      expect(status).toBe(401);
      expect(verdict).toMatchObject({ verdict: 'refused', check: 'digest', reason: 'digest_mismatch', aauth: { valid: true } });
    });

    it('a tampered body with a recomputed Content-Digest: aauth refuses (content-digest is covered)', async () => {
      const url = `${target}/orders`;
      const tampered = '{"order":"C-3","qty":100}';
      const headers = { ...signedOrder(url), 'content-digest': sha256(tampered) };
      const { status, verdict } = await send(url, { method: 'POST', headers, body: tampered });
      expect(status).toBe(401);
      expect(verdict).toMatchObject({ verdict: 'refused', check: 'aauth', reason: 'Signature verification failed' });
    });

    it('hwk: Signature-Key naming another key than the one that signed is refused', async () => {
      const url = `${target}/market`;
      const headers = agent.buildSignedRequest({ method: 'GET', url }).headers;
      const other = createAgent({ key: generateKey(), signatureEncoding: 'base64url' });
      headers['signature-key'] = other.buildSignedRequest({ method: 'GET', url }).headers['signature-key']!;
      const { status, verdict } = await send(url, { headers });
      expect(status).toBe(401);
      expect(verdict).toMatchObject({ verdict: 'refused', check: 'aauth', reason: 'Signature verification failed' });
    });

    it('jwks_uri: a signing key other than the one its JWKS publishes under that kid is refused', async () => {
      // Same identity and kid as `hosted`, whose server publishes hosted.key; this agent signs with another key.
      const impostor = createAgent({ identity: hosted.identity, key: generateKey({ kid: hosted.key.kid }), signatureEncoding: 'base64url' });
      const res = await impostor.fetch(`${target}/market`);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ verdict: 'refused', check: 'aauth', reason: 'Signature verification failed' });
    });

    it('a request for another authority is refused (aauth checks @authority against its own)', async () => {
      const headers = agent.buildSignedRequest({ method: 'GET', url: 'http://127.0.0.1:1/market' }).headers;
      const { status, verdict } = await send(`${target}/market`, { headers });
      expect(status).toBe(401);
      expect(verdict).toMatchObject({ verdict: 'refused', check: 'aauth', reason: 'Signature verification failed' });
    });

    it('aauth keeps no replay cache: the same signed request is accepted twice (a difference from the kit)', async () => {
      const url = `${target}/orders`;
      const headers = signedOrder(url);
      const first = await send(url, { method: 'POST', headers, body: order });
      const second = await send(url, { method: 'POST', headers, body: order });
      expect([first.status, second.status]).toEqual([200, 200]);
      expect(second.verdict).toMatchObject({ verdict: 'ok', digest: 'verified' });
    });
  });
});
