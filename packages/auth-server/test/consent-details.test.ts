import { describe, expect, it } from 'vitest';
import { loadRealm } from '../src/index.js';
import {
  chainingOf,
  consentDetails,
  displayText,
  logoUrl,
  plainDuration,
  scopeViews,
  type ConsentDetails,
} from '../src/lib/consent-details.js';
import { chainingSentence, consentPage, durationSentence, loginPage } from '../src/lib/html.js';
import type { KeyResolver } from '../src/lib/context.js';
import type { PendingRequest } from '../src/pending-store.js';
import { testRealm } from '../../../test/fixtures/auth-server.js';

const AGENT = 'https://backend.example';
const RESOURCE = 'https://sca.example';

function request(overrides: Partial<PendingRequest> = {}): PendingRequest {
  return {
    id: 'id-1',
    code: 'ABCD2345',
    thumbprint: 'tp',
    agent: AGENT,
    resource: RESOURCE,
    scope: 'supply-chain:optimize market-analysis:analyze',
    consentScopes: ['supply-chain:optimize'],
    kind: 'auth',
    cnfJwk: { kty: 'OKP', crv: 'Ed25519', x: 'x' },
    createdAt: 0,
    expiresAt: 600,
    status: 'pending',
    ...overrides,
  };
}

function keys(documents: Record<string, Record<string, unknown> | Error>): KeyResolver & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    resolveResourceJwk: () => Promise.reject(new Error('unused')),
    resolveIssuerJwk: () => Promise.reject(new Error('unused')),
    resolveMetadata: async (kind, id) => {
      asked.push(`${kind} ${id}`);
      const doc = documents[`${kind} ${id}`];
      if (doc === undefined) throw new Error('404');
      if (doc instanceof Error) throw doc;
      return doc;
    },
  };
}

const realm = (attributes: Record<string, string> = {}, extra: Record<string, unknown> = {}) => loadRealm(testRealm(attributes, extra), { onWarning: () => {} });

describe('displayText: metadata text fit to show', () => {
  it('keeps short names, collapses whitespace, drops controls and bidi overrides', () => {
    expect(displayText('Acme Backend', 100)).toBe('Acme Backend');
    expect(displayText('  Acme \n\t Backend  ', 100)).toBe('Acme Backend');
    expect(displayText('Acme\u202eTNEMYAP\u202c\u200b Backend\u0000', 100)).toBe('Acme TNEMYAP Backend');
  });

  it('cuts at the limit with an ellipsis, counting characters, not UTF-16 units', () => {
    expect(displayText('a'.repeat(100), 100)).toBe('a'.repeat(100));
    expect(displayText('a'.repeat(10_000), 100)).toBe(`${'a'.repeat(99)}…`);
    const emoji = '😀'.repeat(150);
    expect(Array.from(displayText(emoji, 100)!)).toHaveLength(100);
    expect(displayText(emoji, 100)!.endsWith('😀…')).toBe(true);
  });

  it('ignores what is not a non-empty string', () => {
    for (const v of [undefined, null, 42, { a: 1 }, ['x'], '', '   ', '\u200b']) expect(displayText(v, 100)).toBeUndefined();
  });
});

describe('logoUrl: only http(s) images', () => {
  it.each([
    ['https://cdn.example/logo.png', true],
    ['http://127.0.0.1:3000/logo.svg', true],
    ['http://[::1]:3000/logo.svg', true],
    ['javascript:alert(1)', false],
    ['JaVaScRiPt:alert(1)', false],
    ['data:image/svg+xml,<svg onload=alert(1)>', false],
    ['/relative/logo.png', false],
    ['https://user:pw@cdn.example/logo.png', false],
    ["https://a;script-src 'unsafe-inline'.example/x", false],
    ['https://a;b.example/x', false],
    [`https://cdn.example/${'a'.repeat(3000)}`, false],
    [42, false],
  ])('%s -> %s', (value, ok) => {
    expect(logoUrl(value) !== undefined).toBe(ok);
  });
});

describe('plainDuration', () => {
  it.each([
    [300, '5 minutes'],
    [60, '1 minute'],
    [45, '45 seconds'],
    [3600, '1 hour'],
    [5400, '1 hour 30 minutes'],
    [3661, '1 hour 1 minute'],
    [86_400 * 2 + 7200, '2 days 2 hours'],
    [86_400 + 30, '1 day'],
    [0, '0 seconds'],
  ])('%d s is "%s"', (seconds, text) => {
    expect(plainDuration(seconds)).toBe(text);
  });
});

describe('scope texts', () => {
  const scopes = ['supply-chain:optimize', 'market-analysis:analyze', 'user.email', 'constructor'];
  const metadata = { resource: RESOURCE, scope_descriptions: { 'supply-chain:optimize': 'Plan orders', 'market-analysis:analyze': 'Resource text', 'user.email': 42 } };

  it("the realm's client scope wins (consent.screen.text, then description), then the resource's scope_descriptions, else nothing", () => {
    const r = realm({}, {
      clientScopes: [
        { name: 'market-analysis:analyze', description: 'Admin description', attributes: { 'consent.screen.text': 'Realm consent text' } },
        { name: 'user.email', description: 'Your e-mail address' },
        { name: 'supply-chain:optimize', attributes: { 'consent.screen.text': '${profileScopeConsentText}' } },
      ],
    });
    expect(scopeViews(r, scopes, metadata)).toEqual([
      { scope: 'supply-chain:optimize', text: 'Plan orders' },
      { scope: 'market-analysis:analyze', text: 'Realm consent text' },
      { scope: 'user.email', text: 'Your e-mail address' },
      // Inherited object members are never descriptions.
      { scope: 'constructor', text: undefined },
    ]);
  });

  it('descriptions are cut to 300 characters', () => {
    const [view] = scopeViews(realm(), ['s'], { scope_descriptions: { s: 'd'.repeat(5000) } });
    expect(view!.text).toBe(`${'d'.repeat(299)}…`);
  });
});

describe('chaining: when the grant lets someone act further for the user', () => {
  it('the resource may exchange the token when exchange is on and the depth limit leaves room', () => {
    expect(chainingOf(realm(), request())).toEqual({ byResource: true, clients: [], hops: 10 });
    expect(chainingOf(realm({ 'aauth.exchange.max.depth': '2' }), request({ act: { agent: 'https://a.example', act: { agent: 'https://b.example' } } }))).toBeUndefined();
    expect(chainingOf(realm({ 'aauth.exchange.max.depth': '3' }), request({ act: { agent: 'https://a.example' } }))).toEqual({ byResource: true, clients: [], hops: 2 });
    expect(chainingOf(realm({ 'aauth.exchange.enabled': 'false' }), request())).toBeUndefined();
    expect(chainingOf(realm({ 'aauth.exchange.max.depth': '0' }), request())).toBeUndefined();
    // A realm deeper than the kit's act-chain limit (10) is capped, as issuance caps it.
    expect(chainingOf(realm({ 'aauth.exchange.max.depth': '40' }), request())).toEqual({ byResource: true, clients: [], hops: 10 });
  });

  it('realm OAuth clients that may exchange a token addressed to the resource count too', () => {
    const clients = [
      { clientId: 'sca-client', secret: 's', attributes: { 'standard.token.exchange.enabled': 'true', 'aauth.exchange.subject.audiences': JSON.stringify([RESOURCE]) } },
      { clientId: 'other', secret: 's', attributes: { 'standard.token.exchange.enabled': 'true' } },
      { clientId: 'no-exchange', secret: 's', attributes: { 'aauth.exchange.subject.audiences': JSON.stringify([RESOURCE]) } },
      { clientId: 'off', enabled: false, secret: 's', attributes: { 'standard.token.exchange.enabled': 'true', 'aauth.exchange.subject.audiences': JSON.stringify([RESOURCE]) } },
    ];
    const r = realm({ 'aauth.exchange.enabled': 'false' }, { clients });
    expect(chainingOf(r, request())).toEqual({ byResource: false, clients: ['sca-client'], hops: 10 });
  });
});

describe('consentDetails', () => {
  it('reads names and logos from metadata; a resource without a name is named by its agent document', async () => {
    const k = keys({
      [`agent ${AGENT}`]: { agent: AGENT, name: 'Acme Backend', logo_uri: 'https://cdn.example/acme.png' },
      [`resource ${RESOURCE}`]: { resource: RESOURCE, scope_descriptions: { 'supply-chain:optimize': 'Plan orders' } },
      [`agent ${RESOURCE}`]: { agent: RESOURCE, name: 'Supply Chain Agent', logo_uri: 'javascript:alert(1)' },
    });
    const details = await consentDetails({ keys: k, realm: realm() }, request());
    expect(details.agent).toEqual({ id: AGENT, name: 'Acme Backend', logo: new URL('https://cdn.example/acme.png'), pseudonymous: false });
    expect(details.resource).toEqual({ id: RESOURCE, name: 'Supply Chain Agent', logo: undefined, pseudonymous: false });
    expect(details.scopes).toEqual([
      { scope: 'supply-chain:optimize', text: 'Plan orders' },
      { scope: 'market-analysis:analyze', text: undefined },
    ]);
    expect(details.lifetime).toBe(300);
    expect(details.refreshWindow).toBe(1800);
  });

  it('a resource document with a name is used, and its agent document is not fetched', async () => {
    const k = keys({ [`resource ${RESOURCE}`]: { resource: RESOURCE, name: 'Named Resource' } });
    const details = await consentDetails({ keys: k, realm: realm() }, request());
    expect(details.resource.name).toBe('Named Resource');
    expect(k.asked).not.toContain(`agent ${RESOURCE}`);
  });

  it('metadata that cannot be fetched degrades to the URLs, never an error', async () => {
    const k = keys({ [`agent ${AGENT}`]: new Error('timeout'), [`resource ${RESOURCE}`]: new Error('ECONNREFUSED') });
    const details = await consentDetails({ keys: k, realm: realm() }, request());
    expect(details.agent).toEqual({ id: AGENT, name: undefined, logo: undefined, pseudonymous: false });
    expect(details.resource).toEqual({ id: RESOURCE, name: undefined, logo: undefined, pseudonymous: false });
    const html = consentPage({ realmName: 'r', code: 'C', details, action: '/a', fields: {}, user: { name: 'u', username: 'u' } });
    expect(html).toContain(`<div class="name" id="agent-name">${AGENT}</div>`);
  });

  it('a pseudonymous (hwk) agent is not looked up and is shown as unidentified', async () => {
    const agent = 'pseudonymous:NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs';
    const k = keys({});
    const details = await consentDetails({ keys: k, realm: realm() }, request({ agent }));
    expect(k.asked).not.toContain(`agent ${agent}`);
    const html = loginPage({ realmName: 'r', code: 'C', details, action: '/a', fields: {} });
    expect(html).toContain('<div class="name" id="agent-name">Unidentified agent</div>');
    expect(html).toContain('key NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs (no published identity)');
    expect(html).toContain('<strong>An unidentified agent</strong> asks to use');
  });
});

describe('the sentences', () => {
  const base: ConsentDetails = {
    agent: { id: AGENT, name: 'Acme <b>', logo: undefined, pseudonymous: false },
    resource: { id: RESOURCE, name: 'SCA', logo: undefined, pseudonymous: false },
    scopes: [],
    lifetime: 300,
    refreshWindow: 1800,
    chaining: undefined,
    act: [],
  };

  it('duration: the lifetime, and the renewals when the realm allows them', () => {
    expect(durationSentence(base)).toBe(
      'Access lasts <strong>5 minutes</strong>. Acme &lt;b&gt; can renew it without asking you again, 5 minutes at a time, ' +
        'for as long as it keeps renewing (each time within 30 minutes after it runs out).',
    );
    expect(durationSentence({ ...base, lifetime: 3600, refreshWindow: 0 })).toBe('Access lasts <strong>1 hour</strong>. After that the agent must ask again.');
  });

  it('chaining: nothing when the grant cannot be passed on, a plain sentence when it can', () => {
    expect(chainingSentence(base, 'Ann')).toBe('');
    expect(chainingSentence({ ...base, chaining: { byResource: true, clients: [], hops: 1 } }, 'Ann <x>')).toBe(
      '<div class="notice" id="chaining" role="note">This also lets <strong>SCA</strong> call other agents and services on your behalf, ' +
        'as Ann &lt;x&gt;, with the permissions above or fewer (through a chain of up to 1 more agent).</div>',
    );
    expect(chainingSentence({ ...base, chaining: { byResource: false, clients: ['c1', 'c2'], hops: 3 } }, undefined)).toBe(
      '<div class="notice" id="chaining" role="note">This also lets the realm clients <strong>c1</strong>, <strong>c2</strong> exchange it ' +
        'for access to other services on your behalf, as you, with the permissions above or fewer.</div>',
    );
  });
});
