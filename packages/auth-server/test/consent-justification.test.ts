import { describe, expect, it } from 'vitest';
import { loadRealm } from '../src/index.js';
import { consentDetails, justificationText, MAX_JUSTIFICATION, MAX_JUSTIFICATION_LINES, type ConsentDetails } from '../src/lib/consent-details.js';
import { chainingSentence, consentPage, durationSentence, justificationBlock, loginPage } from '../src/lib/html.js';
import type { KeyResolver } from '../src/lib/context.js';
import type { PendingRequest } from '../src/pending-store.js';
import { testRealm } from '../../../test/fixtures/auth-server.js';

// The -11 consent page (issue 16, helper E): the agent's `justification` is agent-asserted Markdown
// (AAuth -11, consent presentation and untrusted input): shown as plain text, escaped, bounded, and
// attributed to the agent; -11 requests get the -11 lifetime, renewal and chaining sentences.

const noMetadata: KeyResolver = {
  resolveResourceJwk: () => Promise.reject(new Error('unused')),
  resolveIssuerJwk: () => Promise.reject(new Error('unused')),
  resolveMetadata: () => Promise.reject(new Error('404')),
};

function request11(kind: 'auth-11' | 'person-11', justification?: string): PendingRequest {
  return {
    id: 'id-11',
    code: 'ABCD2345',
    thumbprint: 'tp',
    agent: 'aauth:backend@agents.example',
    resource: 'https://sca.example',
    scope: kind === 'auth-11' ? 'supply-chain:optimize' : '',
    consentScopes: kind === 'auth-11' ? ['supply-chain:optimize'] : [],
    kind,
    cnfJwk: { kty: 'OKP', crv: 'Ed25519', x: 'x' },
    draft11: { cnfJwk: { kty: 'OKP', crv: 'Ed25519', x: 'x', alg: 'Ed25519' }, expCap: 10_000, ...(justification !== undefined ? { justification } : {}) },
    createdAt: 0,
    expiresAt: 600,
    status: 'pending',
  };
}

describe('justificationText: the agent\'s Markdown as plain text fit to show', () => {
  it('keeps the text and its line breaks, nothing else is interpreted', () => {
    expect(justificationText('Find **meeting** times\nfor [Ann](https://x.example)')).toBe('Find **meeting** times\nfor [Ann](https://x.example)');
    expect(justificationText('<script>alert(1)</script>')).toBe('<script>alert(1)</script>'); // escaping is the page's job
  });

  it('normalises line ends, drops controls, zero-width and bidi characters, collapses spaces and empty lines', () => {
    expect(justificationText('  a\r\nb\rc  ')).toBe('a\nb\nc');
    expect(justificationText('pay\u202Eredoc\u202C\u200B now\u0000\u0007\t\tplease')).toBe('pay redoc now please');
    expect(justificationText('\n\n\none\n\n\n\n\ntwo\n\n')).toBe('one\n\ntwo');
    expect(justificationText('x\u2028y\u2029z')).toBe('x y z');
  });

  it('is undefined for a non-string or for nothing visible', () => {
    for (const value of [undefined, null, 42, { text: 'x' }, ['x'], '', ' \n\t\u200B\u202E ']) expect(justificationText(value)).toBeUndefined();
  });

  it(`cuts at ${MAX_JUSTIFICATION} characters (code points, never half an emoji) and ${MAX_JUSTIFICATION_LINES} lines, ending with an ellipsis`, () => {
    expect(justificationText('a'.repeat(MAX_JUSTIFICATION))).toBe('a'.repeat(MAX_JUSTIFICATION));
    expect(justificationText('a'.repeat(MAX_JUSTIFICATION + 1))).toBe(`${'a'.repeat(MAX_JUSTIFICATION - 1)}…`);
    const emoji = justificationText('😀'.repeat(2000))!;
    expect(Array.from(emoji)).toHaveLength(MAX_JUSTIFICATION);
    expect(emoji.endsWith('😀…')).toBe(true);
    const lines = Array.from({ length: 50 }, (_, i) => `line ${i}`).join('\n');
    expect(justificationText(lines)).toBe(`${Array.from({ length: MAX_JUSTIFICATION_LINES }, (_, i) => `line ${i}`).join('\n')}…`);
  });
});

describe('consentDetails for -11 requests', () => {
  const realm = loadRealm(testRealm({ 'aauth.person.token.lifespan': '900', 'aauth.refresh.lifespan': '1800' }), { onWarning: () => {} });

  it('an auth-11 request: the person server lifetime, no renewal, chaining by upstream_token, and the justification', async () => {
    const details = await consentDetails({ keys: noMetadata, realm }, request11('auth-11', 'Because\n\n\n<b>I</b> say so'));
    expect(details).toMatchObject({ lifetime: 900, refreshWindow: 0, chaining: { byResource: true, clients: [] }, draft11: { justification: 'Because\n\n<b>I</b> say so' } });
  });

  it('a person-11 request: no chaining notice; no justification when none was sent; a Keycloak-profile request has no draft11 part', async () => {
    const details = await consentDetails({ keys: noMetadata, realm }, request11('person-11'));
    expect(details.chaining).toBeUndefined();
    expect(details.draft11).toEqual({ justification: undefined });
    const { draft11: _d, ...keycloak } = request11('auth-11', 'ignored');
    const classic = await consentDetails({ keys: noMetadata, realm }, { ...keycloak, kind: 'auth', agent: 'https://backend.example' });
    expect(classic.draft11).toBeUndefined();
    expect(classic.lifetime).toBe(realm.accessTokenLifespan);
  });
});

describe('the -11 consent page', () => {
  const details: ConsentDetails = {
    agent: { id: 'aauth:backend@agents.example', name: undefined, logo: undefined, pseudonymous: false },
    resource: { id: 'https://sca.example', name: 'SCA <i>', logo: undefined, pseudonymous: false },
    scopes: [{ scope: 'supply-chain:optimize', text: 'Optimise the supply chain' }],
    lifetime: 3600,
    refreshWindow: 0,
    chaining: { byResource: true, clients: [], hops: 1 },
    act: [],
    draft11: { justification: 'I "need" <this> & more\nsecond line' },
  };

  it('the justification block: escaped, attributed to the agent, apart from the rest', () => {
    expect(justificationBlock(details)).toBe(
      "<h2>Why, in the agent's words</h2>\n" +
        '<div class="agent-says" id="justification" role="note"><p class="said-by">The agent says (its own claim, not checked by this server):</p>' +
        '<blockquote id="justification-text">I &quot;need&quot; &lt;this&gt; &amp; more\nsecond line</blockquote></div>',
    );
    expect(justificationBlock({ ...details, draft11: { justification: undefined } })).toBe('');
    expect(justificationBlock({ ...details, draft11: undefined })).toBe('');
  });

  it('the consent page shows it after the scopes; the login page does not show it', () => {
    const page = consentPage({ realmName: 'r', code: 'C', details, action: '/a', fields: {}, user: { name: 'Ann', username: 'ann' } });
    expect(page.indexOf('id="scopes"')).toBeGreaterThan(0);
    expect(page.indexOf('id="justification"')).toBeGreaterThan(page.indexOf('id="scopes"'));
    expect(page.indexOf('id="justification"')).toBeLessThan(page.indexOf('id="duration"'));
    expect(loginPage({ realmName: 'r', code: 'C', details, action: '/a', fields: {} })).not.toContain('justification');
  });

  it('-11 sentences: tokens are not renewed but the approval is remembered; chaining comes back to this server', () => {
    expect(durationSentence(details)).toBe(
      'Each token aauth:backend@agents.example gets lasts at most <strong>1 hour</strong>. This approval is remembered: it can get new ones without asking you again.',
    );
    expect(chainingSentence(details, 'Ann <x>')).toBe(
      '<div class="notice" id="chaining" role="note">This also lets <strong>SCA &lt;i&gt;</strong>, when it acts as an agent, call other services on your behalf, ' +
        'as Ann &lt;x&gt;, while this access lasts; for permissions that need your consent you are asked again.</div>',
    );
  });
});
