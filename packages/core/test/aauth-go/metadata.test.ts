import { describe, expect, it } from 'vitest';
import { checkMetadataDocument, metadataUrl } from '@aauth-kit/core';
import { expectCode, thrown } from '../support.js';
import { loadVectors } from './load.js';

// Generation: draft-11 (the -11 well-known documents; the Keycloak profile's are aauth-issuer.json and
// the agent document with `agent`, not `issuer`).
const { cases, spec } = loadVectors<{ document: string; json: Record<string, unknown> }>('metadata.json');

describe(`aauth-go metadata.json (${spec}), draft-11`, () => {
  it('has the 3 cases of PROVENANCE.md', () => expect(cases).toHaveLength(3));
  for (const c of cases) {
    const url = metadataUrl(c.json.issuer as string, c.document);
    it(`${c.document}: round-trips as JSON, and its issuer is the URL it is fetched from`, () => {
      expect(JSON.parse(JSON.stringify(c.json))).toEqual(c.json);
      if (c.document === 'aauth-person.json') {
        // Where the vector lags -11: `token_endpoint` is the older name; -11 requires auth_token_endpoint
        // and person_token_endpoint (AAuth -11 "Person Server Metadata").
        expect(c.json.token_endpoint).toBeDefined();
        const e = expectCode(thrown(() => checkMetadataDocument(c.json, { url, dwk: c.document })), 'metadata_invalid');
        expect(e.message).toBe('aauth-person.json: auth_token_endpoint is missing');
        const current = { ...c.json, auth_token_endpoint: c.json.token_endpoint, person_token_endpoint: 'https://ps.example/person' };
        expect(checkMetadataDocument(current, { url, dwk: c.document })).toBe(current);
      } else {
        expect(checkMetadataDocument(c.json, { url, dwk: c.document, requireJwksUri: true })).toBe(c.json);
      }
    });
    it(`${c.document}: fetched under another identity it is issuer_mismatch; without issuer issuer_missing`, () => {
      expectCode(thrown(() => checkMetadataDocument(c.json, { url: metadataUrl('https://evil.example', c.document), dwk: c.document })), 'issuer_mismatch');
      const { issuer: _issuer, ...noIssuer } = c.json;
      expectCode(thrown(() => checkMetadataDocument(noIssuer, { url, dwk: c.document })), 'issuer_missing');
    });
  }
});
