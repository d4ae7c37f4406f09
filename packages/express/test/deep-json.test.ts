import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import { send, signed, startApp, startIssuer } from './helpers.js';

// A token under Signature-Key whose header or claims nest thousands deep: JSON.parse takes them, but
// an error message that JSON.stringify'd the value overflowed the stack (a 500 with express's page).
// Each now gets its token refusal, naming the value by its kind.

let web: Awaited<ReturnType<typeof startApp>>;
let issuer: Awaited<ReturnType<typeof startIssuer>>;
let R: string;
const key = generateKey();
const b64 = (s: string) => Buffer.from(s).toString('base64url');
const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  web = await startApp();
  issuer = await startIssuer();
  R = web.identity;
  const resource = createResource({ identity: R, key: generateKey({ kid: 'res' }), authServer: issuer.issuer });
  web.app.get('/r', resource.require(), (_q, s) => s.json({ ok: true }));
  web.app.get('/t', resource.require({ scope: 'read' }), (_q, s) => s.json({ ok: true }));
});
afterAll(async () => {
  await web.close();
  await issuer.close();
});

describe('deeply nested JSON in a token under Signature-Key jwt', () => {
  const cases = [
    ['typ', `${b64(`{"alg":"EdDSA","typ":${deep(6000)}}`)}.${b64('{"iss":"x"}')}.AAAA`, /typ an array of 1 item is not/],
    ['alg', `${b64(`{"alg":${deep(6000)},"typ":"auth+jwt"}`)}.${b64('{"iss":"x"}')}.AAAA`, /alg an array of 1 item is not allowed/],
  ] as const;
  for (const [name, jwt, message] of cases) {
    for (const path of ['/r', '/t']) {
      it(`a nested ${name} on ${path}: 401 naming it, and the next request is served`, async () => {
        const answer = await send(signed({ method: 'GET', url: `${R}${path}` }, key, { scheme: 'jwt', jwt }));
        expect(answer.status).toBe(401);
        expect(answer.json?.error_description).toMatch(message);
        expect((await send(signed({ method: 'GET', url: `${R}/r` }, generateKey()))).status).toBe(200);
      });
    }
  }

  it('a nested aud from a trusted issuer, forged signature: 401 (it was a 500 while the claim was put into a message)', async () => {
    const payload = `{"iss":"${issuer.issuer}","aud":${deep(6000)},"exp":${now() + 100},"cnf":{"jwk":{}}}`;
    const jwt = `${b64(`{"alg":"EdDSA","typ":"auth+jwt","kid":"${issuer.key.kid}"}`)}.${b64(payload)}.AAAA`;
    const answer = await send(signed({ method: 'GET', url: `${R}/t` }, key, { scheme: 'jwt', jwt }));
    expect(answer.status).toBe(401);
    expect(answer.json?.error_description).toMatch(/^Auth token: /);
  });
});
