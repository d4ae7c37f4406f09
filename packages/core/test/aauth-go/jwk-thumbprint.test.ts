import { describe, expect, it } from 'vitest';
import { computeThumbprint, importPublicKey } from '@aauth-kit/core';
import { loadVectors } from './load.js';

// Generation: both (RFC 7638 thumbprints: agent_jkt in -11, the kit's kid and agent_jkt in the Keycloak profile).
const { cases, spec } = loadVectors<{ name: string; jwk: Record<string, string>; thumbprint: string }>('jwk-thumbprint.json');

describe(`aauth-go jwk-thumbprint.json (${spec}), both generations`, () => {
  it('has the 2 cases of PROVENANCE.md', () => expect(cases).toHaveLength(2));
  for (const c of cases) {
    it(c.name, () => {
      expect(computeThumbprint(c.jwk)).toBe(c.thumbprint);
      expect(importPublicKey(c.jwk).thumbprint).toBe(c.thumbprint);
    });
  }
});
