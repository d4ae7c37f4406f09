import { generateKey, signRequest } from '@aauth-kit/core';
import { createVerifier } from '@aauth-kit/verifier';
import { documentFetch } from './figures/verifier.mjs';
const key = generateKey({ kid: 'sca-1' });
const AGENT = 'http://localhost:3001', RESOURCE = 'http://localhost:3002';
const docs = new Map();
docs.set(`${AGENT}/.well-known/aauth-agent.json`, { agent: AGENT, jwks_uri: `${AGENT}/jwks.json` });
docs.set(`${AGENT}/jwks.json`, { keys: [key.toPublishedJwk()] });
const verifier = createVerifier({ identity: RESOURCE, fetch: documentFetch(docs), replay: { methods: 'none' } });
const get = { method: 'GET', url: `${RESOURCE}/analysis?sku=A-100`, headers: { accept: 'application/json' } };
const s = signRequest(get, { key, signatureKey: { scheme: 'jwks_uri', id: AGENT, kid: key.kid } });
const req = { ...get, headers: { ...get.headers, ...s.headers } };
await verifier.verify(req);
const t0 = performance.now(); let n = 0;
while (performance.now() - t0 < 4000) { await verifier.verify(req); n++; }
console.log(n / 4, 'verifies/s');
