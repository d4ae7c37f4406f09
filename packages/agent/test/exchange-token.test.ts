import { generateKey, isAAuthError } from '@aauth-kit/core';
import fc from 'fast-check';
import { importJWK, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  buildTokenExchangeRequest,
  exchangeToken,
  TokenExchangeError,
  type ExchangeTokenOptions,
  type TokenExchangeRequestOptions,
} from '../src/index.js';

/** A user's token as a provider would hand it over (JWT-shaped, so redaction can be checked). */
const USER_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJlLWJ5dGVz';
const ISSUED = 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJjcm0ifQ.aXNzdWVkLXNpZ25hdHVyZQ';
const NOW = 1_760_000_000;

interface Call {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** A transport answering every call with `status` and `body` (a recorded provider answer), recording what was sent. */
function recorded(status: number, body: unknown, calls: Call[] = [], headers: Record<string, string> = { 'content-type': 'application/json' }): typeof fetch {
  return async (input, init) => {
    calls.push({
      url: String(input),
      headers: Object.fromEntries(new Headers(init?.headers).entries()),
      body: Buffer.from(init?.body as Uint8Array).toString('utf8'),
    });
    return new Response(typeof body === 'string' ? body : JSON.stringify(body), { status, headers });
  };
}

/**
 * The four provider configurations of the README (section "RFC 8693 token exchange"), each with
 * the exact request it produces, recorded from the providers' documentation.
 */
const PROVIDERS: Array<{
  name: string;
  target: Omit<TokenExchangeRequestOptions, 'subjectToken'>;
  url: string;
  headers: Record<string, string>;
  body: string;
  response: Record<string, unknown>;
  expected: { issuedTokenType: string; tokenType: string; expiresAt: number; scope: string };
}> = [
  {
    name: 'Keycloak (standard token exchange, client_secret_basic)',
    target: {
      tokenEndpoint: 'https://sso.example.com/realms/acme/protocol/openid-connect/token',
      clientId: 'supply-chain-agent',
      auth: { method: 'client_secret_basic', clientSecret: 'kc-secret' },
      audience: 'crm',
      scope: 'crm:read',
    },
    url: 'https://sso.example.com/realms/acme/protocol/openid-connect/token',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
      authorization: 'Basic c3VwcGx5LWNoYWluLWFnZW50OmtjLXNlY3JldA==',
    },
    body:
      'grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange' +
      '&subject_token=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJlLWJ5dGVz' +
      '&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token' +
      '&audience=crm&scope=crm%3Aread',
    response: {
      access_token: ISSUED,
      expires_in: 300,
      refresh_expires_in: 0,
      token_type: 'Bearer',
      'not-before-policy': 0,
      session_state: '5b2ab8d4-21f0-4a1e-9c55-0b3f1a1d2e3f',
      scope: 'crm:read',
      issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    },
    expected: { issuedTokenType: 'urn:ietf:params:oauth:token-type:access_token', tokenType: 'Bearer', expiresAt: NOW + 300, scope: 'crm:read' },
  },
  {
    name: 'Auth0 (custom token exchange, client_secret_post)',
    target: {
      tokenEndpoint: 'https://acme.us.auth0.com/oauth/token',
      clientId: 'R2d2C3po0123456789abcdef',
      auth: { method: 'client_secret_post', clientSecret: 'auth0-secret' },
      subjectTokenType: 'urn:acme:user-token',
      audience: 'https://crm.acme.com/api',
      scope: 'read:contacts',
    },
    url: 'https://acme.us.auth0.com/oauth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body:
      'grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange' +
      '&client_id=R2d2C3po0123456789abcdef&client_secret=auth0-secret' +
      '&subject_token=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJlLWJ5dGVz' +
      '&subject_token_type=urn%3Aacme%3Auser-token' +
      '&audience=https%3A%2F%2Fcrm.acme.com%2Fapi&scope=read%3Acontacts',
    response: {
      access_token: ISSUED,
      issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      token_type: 'Bearer',
      expires_in: 86400,
      scope: 'read:contacts',
    },
    expected: { issuedTokenType: 'urn:ietf:params:oauth:token-type:access_token', tokenType: 'Bearer', expiresAt: NOW + 86400, scope: 'read:contacts' },
  },
  {
    name: 'Okta (on-behalf-of token exchange, client_secret_basic)',
    target: {
      tokenEndpoint: 'https://acme.okta.com/oauth2/aus1crmapi/v1/token',
      clientId: '0oa1agent2svc3',
      auth: { method: 'client_secret_basic', clientSecret: 'okta secret/+' },
      audience: 'api://crm',
      scope: 'crm.read',
    },
    url: 'https://acme.okta.com/oauth2/aus1crmapi/v1/token',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
      // RFC 6749 2.3.1: base64("0oa1agent2svc3:okta+secret%2F%2B"), the secret form-urlencoded first.
      authorization: 'Basic MG9hMWFnZW50MnN2YzM6b2t0YStzZWNyZXQlMkYlMkI=',
    },
    body:
      'grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange' +
      '&subject_token=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJlLWJ5dGVz' +
      '&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token' +
      '&audience=api%3A%2F%2Fcrm&scope=crm.read',
    response: {
      token_type: 'Bearer',
      expires_in: 3600,
      access_token: ISSUED,
      scope: 'crm.read',
      issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    },
    expected: { issuedTokenType: 'urn:ietf:params:oauth:token-type:access_token', tokenType: 'Bearer', expiresAt: NOW + 3600, scope: 'crm.read' },
  },
  {
    name: 'Microsoft Entra ID (on-behalf-of, client_secret_post)',
    target: {
      tokenEndpoint: 'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token',
      clientId: '6731de76-14a6-49ae-97bc-6eba6914391e',
      auth: { method: 'client_secret_post', clientSecret: 'entra~secret' },
      profile: 'entra-obo',
      scope: 'api://crm/.default',
    },
    url: 'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body:
      'grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer' +
      '&client_id=6731de76-14a6-49ae-97bc-6eba6914391e&client_secret=entra%7Esecret' +
      '&assertion=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJlLWJ5dGVz' +
      '&scope=api%3A%2F%2Fcrm%2F.default&requested_token_use=on_behalf_of',
    response: {
      token_type: 'Bearer',
      scope: 'api://crm/.default',
      expires_in: 3599,
      ext_expires_in: 3599,
      access_token: ISSUED,
      refresh_token: 'OAQABAAAAAABnfiG-mA6NTae7CdWW7QfdAALzDWjw6qSn4GUDfxWzJDZ6lk9qRw',
    },
    expected: { issuedTokenType: 'urn:ietf:params:oauth:token-type:access_token', tokenType: 'Bearer', expiresAt: NOW + 3599, scope: 'api://crm/.default' },
  },
];

describe('provider configurations: the exact request each produces, and its recorded answer', () => {
  it.each(PROVIDERS)('$name', async (provider) => {
    const built = await buildTokenExchangeRequest({ ...provider.target, subjectToken: USER_TOKEN });
    expect(built.url.href).toBe(provider.url);
    expect(built.headers).toEqual(provider.headers);
    expect(built.body).toBe(provider.body);

    const calls: Call[] = [];
    const token = await exchangeToken({ ...provider.target, subjectToken: USER_TOKEN, fetch: recorded(200, provider.response, calls), now: () => NOW });
    expect(calls).toEqual([{ url: provider.url, headers: provider.headers, body: provider.body }]);
    expect(token.accessToken).toBe(ISSUED);
    expect({ ...token }).toEqual(provider.expected);
    // The token is not enumerable: logging the result does not print it (nor any refresh token).
    expect(JSON.stringify(token)).not.toContain(ISSUED);
    expect(JSON.stringify(token)).not.toContain('OAQAB');
  });

  it("Keycloak's legacy external exchange: requested_issuer and requested_token_type as extra and standard parameters", async () => {
    const built = await buildTokenExchangeRequest({
      tokenEndpoint: 'https://sso.example.com/realms/acme/protocol/openid-connect/token',
      clientId: 'supply-chain-agent',
      auth: { method: 'client_secret_post', clientSecret: 'kc' },
      requestedTokenType: 'urn:ietf:params:oauth:token-type:access_token',
      extraParams: { requested_issuer: 'google' },
      subjectToken: USER_TOKEN,
    });
    expect(built.body).toBe(
      'grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&client_id=supply-chain-agent&client_secret=kc' +
        `&subject_token=${USER_TOKEN}&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token` +
        '&requested_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token&requested_issuer=google',
    );
  });

  it('actor token, repeated audience and resource, a scope list, and a repeated extra parameter', async () => {
    const built = await buildTokenExchangeRequest({
      tokenEndpoint: 'http://localhost:8080/token',
      clientId: 'a',
      auth: { method: 'none' },
      actorToken: 'actor.token.value',
      audience: ['crm', 'billing'],
      resource: ['https://crm.example.com/', 'https://billing.example.com/api'],
      scope: ['crm:read', 'billing:read', 'crm:read'],
      extraParams: { tenant: ['t1', 't2'] },
      subjectToken: 'subject',
    });
    expect(built.headers).toEqual({ 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' });
    expect(built.body).toBe(
      'grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&client_id=a&subject_token=subject' +
        '&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token' +
        '&actor_token=actor.token.value&actor_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token' +
        '&audience=crm&audience=billing&resource=https%3A%2F%2Fcrm.example.com%2F&resource=https%3A%2F%2Fbilling.example.com%2Fapi' +
        '&scope=crm%3Aread+billing%3Aread&tenant=t1&tenant=t2',
    );
  });
});

describe('client authentication', () => {
  it('client_secret_basic form-urlencodes id and secret before base64 (RFC 6749 section 2.3.1)', async () => {
    const built = await buildTokenExchangeRequest({
      tokenEndpoint: 'https://as.example.com/token',
      clientId: 'svc agent:1',
      auth: { method: 'client_secret_basic', clientSecret: 'p@ss word+/=:ä' },
      subjectToken: 's',
    });
    const decoded = Buffer.from(built.headers.authorization!.slice('Basic '.length), 'base64').toString('utf8');
    expect(decoded).toBe('svc+agent%3A1:p%40ss+word%2B%2F%3D%3A%C3%A4');
    expect(built.body).not.toContain('client_id');
    expect(built.body).not.toContain('p%40ss');
  });

  it('private_key_jwt: an RFC 7523 assertion signed with the agent key (iss = sub = client id, aud = token endpoint, jti, short exp)', async () => {
    for (const alg of ['EdDSA', 'ES256'] as const) {
      const key = generateKey({ alg, kid: `agent-${alg}` });
      const options: TokenExchangeRequestOptions = {
        tokenEndpoint: 'https://acme.okta.com/oauth2/aus1crmapi/v1/token',
        clientId: '0oa1agent2svc3',
        auth: { method: 'private_key_jwt', key },
        audience: 'api://crm',
        scope: 'crm.read',
        subjectToken: USER_TOKEN,
      };
      const one = await buildTokenExchangeRequest(options, { now: () => NOW });
      const two = await buildTokenExchangeRequest(options, { now: () => NOW });
      expect(one.headers.authorization).toBeUndefined();
      expect(one.body.replace(/client_assertion=[^&]+/, 'client_assertion=<JWT>')).toBe(
        'grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&client_id=0oa1agent2svc3' +
          `&subject_token=${USER_TOKEN}&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token` +
          '&audience=api%3A%2F%2Fcrm&scope=crm.read' +
          '&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=<JWT>',
      );
      const assertion = new URLSearchParams(one.body).get('client_assertion')!;
      const { payload, protectedHeader } = await jwtVerify(assertion, await importJWK(key.toPublishedJwk() as never, alg), {
        currentDate: new Date(NOW * 1000),
      });
      expect(protectedHeader).toEqual({ alg, typ: 'JWT', kid: `agent-${alg}` });
      expect(payload).toMatchObject({ iss: '0oa1agent2svc3', sub: '0oa1agent2svc3', aud: 'https://acme.okta.com/oauth2/aus1crmapi/v1/token', iat: NOW, exp: NOW + 60 });
      expect(payload.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(new URLSearchParams(two.body).get('client_assertion')).not.toBe(assertion);
      expect(payload.jti).not.toBe((await jwtVerify(new URLSearchParams(two.body).get('client_assertion')!, await importJWK(key.toPublishedJwk() as never, alg), { currentDate: new Date(NOW * 1000) })).payload.jti);
    }
  });

  it('private_key_jwt with another audience and lifetime', async () => {
    const key = generateKey();
    const built = await buildTokenExchangeRequest(
      { tokenEndpoint: 'https://sso.example.com/t', clientId: 'c', auth: { method: 'private_key_jwt', key, audience: 'https://sso.example.com', lifetime: 30 }, subjectToken: 's' },
      { now: () => NOW },
    );
    const { payload } = await jwtVerify(new URLSearchParams(built.body).get('client_assertion')!, await importJWK(key.toPublishedJwk() as never, 'EdDSA'), {
      currentDate: new Date(NOW * 1000),
    });
    expect(payload).toMatchObject({ aud: 'https://sso.example.com', exp: NOW + 30 });
  });
});

const BASE: Omit<ExchangeTokenOptions, 'subjectToken'> = {
  tokenEndpoint: 'https://as.example.com/token',
  clientId: 'agent',
  auth: { method: 'client_secret_basic', clientSecret: 'top-secret-value' },
  audience: 'crm',
  scope: 'crm:read',
  now: () => NOW,
};

async function failure(promise: Promise<unknown>): Promise<TokenExchangeError> {
  const error = await promise.then(
    () => expect.fail('expected a failure'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TokenExchangeError);
  return error as TokenExchangeError;
}

describe('the answer: RFC 8693 section 2.2.1 checks', () => {
  const ok = { access_token: ISSUED, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: 60 };

  it.each([
    ['no access_token', { ...ok, access_token: undefined }, /no access_token/],
    ['an empty access_token', { ...ok, access_token: '' }, /no access_token/],
    ['an access_token with a space', { ...ok, access_token: 'a b' }, /characters a header cannot carry/],
    ['no issued_token_type', { ...ok, issued_token_type: undefined }, /no issued_token_type/],
    ['no token_type', { ...ok, token_type: undefined }, /no token_type/],
    ['a negative expires_in', { ...ok, expires_in: -5 }, /invalid expires_in/],
    ['a non-numeric expires_in', { ...ok, expires_in: 'soon' }, /invalid expires_in/],
    ['a scope that is not a string', { ...ok, scope: ['crm:read'] }, /scope that is not a string/],
    ['not an object', [ok], /without a JSON object/],
  ])('%s is exchange_failed', async (_name, body, message) => {
    const error = await failure(exchangeToken({ ...BASE, subjectToken: USER_TOKEN, fetch: recorded(200, body) }));
    expect(error.code).toBe('exchange_failed');
    expect(error.status).toBe(502);
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain(ISSUED);
  });

  it('token_type N_A is kept; "bearer" is normalised; expires_in as a string counts; the scope defaults to the requested one', async () => {
    const na = await exchangeToken({ ...BASE, subjectToken: USER_TOKEN, fetch: recorded(200, { ...ok, token_type: 'N_A' }) });
    expect(na.tokenType).toBe('N_A');
    const lower = await exchangeToken({ ...BASE, subjectToken: USER_TOKEN, fetch: recorded(200, { ...ok, token_type: 'bearer', expires_in: '3599' }) });
    expect({ ...lower }).toEqual({ issuedTokenType: ok.issued_token_type, tokenType: 'Bearer', expiresAt: NOW + 3599, scope: 'crm:read' });
  });

  it("without expires_in the expiry comes from a JWT's exp, else it is unknown", async () => {
    const jwt = `eyJhbGciOiJub25lIn0.${Buffer.from(JSON.stringify({ exp: NOW + 42 })).toString('base64url')}.c2ln`;
    const fromJwt = await exchangeToken({ ...BASE, subjectToken: USER_TOKEN, fetch: recorded(200, { ...ok, access_token: jwt, expires_in: undefined }) });
    expect(fromJwt.expiresAt).toBe(NOW + 42);
    const opaque = await exchangeToken({ ...BASE, subjectToken: USER_TOKEN, fetch: recorded(200, { ...ok, access_token: 'opaque-token', expires_in: undefined }) });
    expect(opaque.expiresAt).toBeUndefined();
  });
});

describe('refusals surface typed (RFC 6749 section 5.2, RFC 8693 section 2.2.2)', () => {
  it.each([
    ['invalid_request', 400, 'exchange_invalid_request', /check the target's audience, resource, token types and scope$/],
    ['invalid_client', 401, 'exchange_invalid_client', /check the target's clientId and auth \(the client secret or key\)/],
    ['invalid_grant', 400, 'exchange_invalid_grant', /the subject or actor token was refused/],
    ['unauthorized_client', 400, 'exchange_unauthorized_client', /allow this client the token-exchange grant/],
    ['invalid_target', 400, 'exchange_invalid_target', /ask for an audience or resource this client may obtain/],
    ['invalid_scope', 400, 'exchange_invalid_scope', /ask for a scope the server grants this client/],
    ['unsupported_grant_type', 400, 'exchange_failed', /bad\)$/],
    ['temporarily_unavailable', 503, 'exchange_failed', /bad\)$/],
  ])('%s (HTTP %i) is %s with the server error and description, and what to fix', async (error, status, code, hint) => {
    const body = { error, error_description: `Refused: the token ${USER_TOKEN} is bad` };
    const e = await failure(exchangeToken({ ...BASE, subjectToken: USER_TOKEN, fetch: recorded(status, body) }));
    expect(e.code).toBe(code);
    expect(e.name).toBe('TokenExchangeError');
    expect(isAAuthError(e)).toBe(true);
    expect(e.oauthError).toBe(error);
    expect(e.responseStatus).toBe(status);
    expect(e.errorDescription).toBe('Refused: the token [redacted] is bad');
    expect(e.details).toEqual({ status, error, error_description: 'Refused: the token [redacted] is bad' });
    expect(e.message.startsWith(`The authorization server refused the token exchange for client agent (HTTP ${status}, ${error}: Refused: the token [redacted] is bad)`)).toBe(true);
    expect(e.message).toMatch(hint);
    for (const secret of [USER_TOKEN, 'top-secret-value']) expect(`${e.message} ${JSON.stringify(e.details)}`).not.toContain(secret);
  });

  // Keycloak 26.5's own answers (recorded from the interop run, interop/keycloak/token-exchange.test.ts).
  it('a 401 is a failed client authentication whatever its error says: Keycloak answers a wrong secret with unauthorized_client', async () => {
    const body = { error: 'unauthorized_client', error_description: 'Invalid client or Invalid client credentials' };
    const e = await failure(exchangeToken({ ...BASE, subjectToken: USER_TOKEN, fetch: recorded(401, body) }));
    expect(e).toMatchObject({ code: 'exchange_invalid_client', status: 502, oauthError: 'unauthorized_client', responseStatus: 401 });
    expect(e.message).toBe(
      'The authorization server refused the token exchange for client agent (HTTP 401, unauthorized_client: Invalid client or Invalid client credentials); ' +
        "check the target's clientId and auth (the client secret or key), and that each audience it names is a client at the server",
    );
    // The same error with 400 keeps its RFC 6749 meaning: the client may not use the grant.
    const grant = await failure(exchangeToken({ ...BASE, subjectToken: USER_TOKEN, fetch: recorded(400, body) }));
    expect(grant.code).toBe('exchange_unauthorized_client');
  });

  it("Keycloak's 403 access_denied for a subject token of another client is exchange_failed and says what to fix", async () => {
    const body = { error: 'access_denied', error_description: 'Client is not within the token audience' };
    const e = await failure(exchangeToken({ ...BASE, subjectToken: USER_TOKEN, fetch: recorded(403, body) }));
    expect(e).toMatchObject({ code: 'exchange_failed', status: 502, oauthError: 'access_denied', responseStatus: 403 });
    expect(e.message).toMatch(/\(HTTP 403, access_denied: Client is not within the token audience\); the server denied this client the exchange: the subject token must be issued for this client \(its aud\)/);
  });

  it('a non-JSON error page, an unreachable server, an oversized answer and a redirect are exchange_failed', async () => {
    const html = await failure(exchangeToken({ ...BASE, subjectToken: USER_TOKEN, fetch: recorded(500, '<html>oops</html>', [], { 'content-type': 'text/html' }) }));
    expect(html).toMatchObject({ code: 'exchange_failed', responseStatus: 500, oauthError: undefined });
    const down = await failure(exchangeToken({ ...BASE, subjectToken: USER_TOKEN, fetch: async () => Promise.reject(new TypeError('fetch failed')) }));
    expect(down.code).toBe('exchange_failed');
    expect(down.message).toMatch(/Cannot reach https:\/\/as.example.com\/token/);
    const big = await failure(exchangeToken({ ...BASE, subjectToken: USER_TOKEN, maxBytes: 100, fetch: recorded(200, { access_token: 'x'.repeat(500) }) }));
    expect(big.message).toMatch(/more than the 100 bytes/);
    const moved = await failure(exchangeToken({ ...BASE, subjectToken: USER_TOKEN, fetch: recorded(302, '', [], { location: 'https://as.example.com/other' }) }));
    expect(moved.message).toMatch(/redirected/);
  });
});

describe('a missing subject token fails before any network call', () => {
  it.each([undefined, null, ''])('subjectToken %j: exchange_subject_token_missing, nothing sent', async (subjectToken) => {
    const calls: Call[] = [];
    const error = await exchangeToken({ ...BASE, subjectToken, fetch: recorded(200, {}, calls) }).then(
      () => expect.fail('expected a failure'),
      (e: unknown) => e as { code: string; status: number },
    );
    expect(error).toMatchObject({ code: 'exchange_subject_token_missing', status: 502 });
    expect(calls).toEqual([]);
    const { now: _now, ...target } = BASE;
    await expect(buildTokenExchangeRequest({ ...target, subjectToken })).rejects.toMatchObject({ code: 'exchange_subject_token_missing' });
  });
});

describe('options are validated; misuse names the option', () => {
  const target = { tokenEndpoint: 'https://as.example.com/token', clientId: 'agent', auth: { method: 'none' as const }, subjectToken: 's' };
  it.each([
    ['a plain-http endpoint on a public host', { tokenEndpoint: 'http://as.example.com/token' }, /options.tokenEndpoint .*not https/],
    ['a relative endpoint', { tokenEndpoint: '/token' }, /options.tokenEndpoint must be an absolute URL/],
    ['an endpoint with a fragment', { tokenEndpoint: 'https://as.example.com/token#x' }, /options.tokenEndpoint must not have a fragment/],
    ['no client id', { clientId: '' }, /options.clientId must be a non-empty string/],
    ['an unknown auth method', { auth: { method: 'tls_client_auth' } }, /options.auth.method must be/],
    ['a basic method without a secret', { auth: { method: 'client_secret_basic' } }, /options.auth.clientSecret must be a non-empty string/],
    ['a private_key_jwt without a key', { auth: { method: 'private_key_jwt', key: {} } }, /options.auth.key must be a SigningKey/],
    ['a long assertion lifetime', { auth: { method: 'private_key_jwt', key: generateKey(), lifetime: 3600 } }, /options.auth.lifetime must be an integer between 1 and 300/],
    ['a scope with a quote', { scope: 'crm:"read"' }, /options.scope has an invalid scope token/],
    ['a relative resource', { resource: 'crm' }, /options.resource must be an absolute URI/],
    ['a token type that is no URI', { subjectTokenType: 'access_token' }, /options.subjectTokenType must be an absolute URI/],
    ['an extra parameter the client sets', { extraParams: { client_secret: 'x' } }, /options.extraParams.client_secret is a parameter the client sets itself/],
    ['an unknown profile', { profile: 'google' }, /options.profile must be one of rfc8693, entra-obo/],
    ['entra-obo with an audience', { profile: 'entra-obo', scope: 'api://crm/.default', audience: 'crm' }, /options.audience is not used by the entra-obo profile/],
    ['entra-obo without a scope', { profile: 'entra-obo' }, /options.scope is required by the entra-obo profile/],
    ['an unknown option', { audiences: ['crm'] }, /options.audiences is not an option/],
    ['a secret with a newline', { auth: { method: 'client_secret_post', clientSecret: 'a\nb' } }, /options.auth.clientSecret must not contain control characters/],
  ])('%s', async (_name, patch, message) => {
    await expect(exchangeToken({ ...target, ...patch } as ExchangeTokenOptions)).rejects.toThrow(TypeError);
    await expect(exchangeToken({ ...target, ...patch } as ExchangeTokenOptions)).rejects.toThrow(message);
  });
});

describe('property: any answer of the token endpoint is a checked token or a TokenExchangeError', () => {
  it.each(['__proto__', 'constructor', 'toString'])('an error value naming an Object.prototype member (%s) is exchange_failed, not a TypeError', async (error) => {
    const thrown = await exchangeToken({ ...BASE, subjectToken: USER_TOKEN, fetch: recorded(400, { error }) }).catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(TokenExchangeError);
    expect((thrown as TokenExchangeError).code).toBe('exchange_failed');
  });

  it('never another exception, never a token that fails the checks', async () => {
    const field = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.string()), fc.constantFrom('Bearer', 'N_A', ISSUED, '3600'));
    const body = fc.oneof(
      fc.record({ access_token: field, issued_token_type: field, token_type: field, expires_in: field, scope: field, error: field, error_description: field }, { requiredKeys: [] }),
      fc.json(),
      fc.string(),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(200, 400, 401, 403, 500), body, async (status, answer) => {
        try {
          const token = await exchangeToken({ ...BASE, subjectToken: USER_TOKEN, fetch: recorded(status, answer) });
          expect(status).toBe(200);
          expect(token.accessToken).toMatch(/^[\x21-\x7E]+$/);
          expect(typeof token.issuedTokenType).toBe('string');
          expect(typeof token.tokenType).toBe('string');
          if (token.expiresAt !== undefined) expect(Number.isFinite(token.expiresAt)).toBe(true);
        } catch (error) {
          expect(error).toBeInstanceOf(TokenExchangeError);
          expect((error as TokenExchangeError).message).not.toContain(USER_TOKEN);
        }
      }),
      { numRuns: 300 },
    );
  });
});
