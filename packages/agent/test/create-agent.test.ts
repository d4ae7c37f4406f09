import { generateKey } from '@aauth-kit/core';
import { parseSignedRequest, verifySignedRequest } from '@aauth-kit/core/internal';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { createAgent, type AgentOptions } from '../src/index.js';
import { listen, type Listening } from '../../../test/fixtures/http.js';
import { hostedAgent, type HostedAgent } from '../../../test/fixtures/hosted-agent.js';
import { resolveAgentKey } from '../../../test/fixtures/resolve-agent-key.js';

const open: Array<Listening | HostedAgent> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

const key = generateKey({ kid: 'k1' });

describe('createAgent options are validated at creation', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['no key', {}, /options.key must be a SigningKey/],
    ['key of the wrong shape', { key: { kid: 'x' } }, /options.key must be a SigningKey/],
    ['identity with a trailing slash', { key, identity: 'https://agent.example/' }, /options.identity must not end with a slash/],
    ['plain http identity off localhost', { key, identity: 'http://agent.example' }, /options.identity must use https/],
    ['bad authServer', { key, authServer: 'not a url' }, /options.authServer must be an absolute URL/],
    ['bad trusted issuer', { key, trustedAuthServers: ['https://ok.example', 'ftp://x'] }, /options.trustedAuthServers\[1\]/],
    ['trustedAuthServers not an array', { key, trustedAuthServers: 'https://ok.example' }, /options.trustedAuthServers must be an array/],
    ['fetch not a function', { key, fetch: 'x' }, /options.fetch must be a function/],
    ['unknown signatureEncoding', { key, signatureEncoding: 'hex' }, /options.signatureEncoding must be one of base64, base64url/],
    ['negative timeout', { key, interactionTimeoutMs: -1 }, /options.interactionTimeoutMs must be a positive number/],
    ['a zero token lifetime cap', { key, maxTokenLifetime: 0 }, /options.maxTokenLifetime must be a positive number/],
    ['unknown discovery field', { key, discovery: { timeout: 5 } }, /options.discovery.timeout is not an option/],
    ['relative interactionCallback', { key, interactionCallback: '/done' }, /options.interactionCallback must be an absolute http\(s\) URL/],
    ['incomplete token cache', { key, tokenCache: { get() {} } }, /options.tokenCache.set must be a function/],
    ['unknown metadata field', { key, metadata: { color: 'red' } }, /options.metadata.color is not a field/],
    ['a typo', { key, authserver: 'https://as.example' }, /^options.authserver is not an option of createAgent \(did you mean authServer\?\)$/],
    ['a name cut short', { key, trustedAuth: ['https://as.example'] }, /^options.trustedAuth is not an option of createAgent \(did you mean trustedAuthServers\?\)$/],
    ['a timeout as a string', { key, interactionTimeoutMs: '1000' }, /^options.interactionTimeoutMs must be a positive number \(got the string "1000"\)$/],
  ];
  for (const [name, options, message] of cases) {
    it(`refuses ${name}`, () => {
      expect(() => createAgent(options as unknown as AgentOptions)).toThrow(TypeError);
      expect(() => createAgent(options as unknown as AgentOptions)).toThrow(message);
    });
  }

  it('accepts a minimal pseudonymous agent and exposes identity and key', () => {
    const agent = createAgent({ key });
    expect(agent.identity).toBeUndefined();
    expect(agent.key).toBe(key);
    expect(() => agent.wellKnown()).toThrow(/needs options.identity/);
  });
});

describe('agent.wellKnown() (wire profile sections 2 and 9)', () => {
  it('serves aauth-agent.json (and without .json) and a JWKS without alg, resolvable by a verifier', async () => {
    const hosted = await hostedAgent({ key, metadata: { name: 'Supply chain agent' } });
    open.push(hosted);
    const meta = await (await fetch(`${hosted.identity}/.well-known/aauth-agent.json`)).json();
    expect(meta).toEqual({ agent: hosted.identity, jwks_uri: `${hosted.identity}/jwks.json`, name: 'Supply chain agent' });
    expect(await (await fetch(`${hosted.identity}/.well-known/aauth-agent`)).json()).toEqual(meta);
    const jwks = (await (await fetch(`${hosted.identity}/jwks.json`)).json()) as { keys: Array<Record<string, unknown>> };
    expect(jwks).toEqual({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: key.jwk.x, kid: 'k1' }] });

    // A signature the agent makes verifies with the key resolved through these documents.
    const url = 'http://localhost:3001/data';
    const { headers } = hosted.agent.buildSignedRequest({ method: 'GET', url });
    const signed = parseSignedRequest({ method: 'GET', url, headers });
    const resolved = await resolveAgentKey(signed.signatureKey!);
    expect(resolved.thumbprint).toBe(key.thumbprint);
    expect(() => verifySignedRequest(signed, resolved)).not.toThrow();
  });

  it('mounts under a path prefix', async () => {
    const agent = createAgent({ key, identity: 'http://localhost:3000/agents/a' });
    const app = express();
    app.use('/agents/a', agent.wellKnown());
    const server = await listen(app);
    open.push(server);
    const meta = await (await fetch(`${server.origin}/agents/a/.well-known/aauth-agent.json`)).json();
    expect(meta).toEqual({ agent: 'http://localhost:3000/agents/a', jwks_uri: 'http://localhost:3000/agents/a/jwks.json' });
  });
});
