import { describe, expect, it } from 'vitest';
import { parseAgentIdentifier } from '@aauth-kit/core';
import { loadVectors } from './load.js';

// Generation: draft-11 (AAuth -11 "Agent Identifiers"; the Keycloak profile names agents by URL).
const { cases, spec } = loadVectors<{ input: string; valid: boolean; name?: string; discriminator?: string; domain?: string }>('agent-identifier.json');

describe(`aauth-go agent-identifier.json (${spec}), draft-11`, () => {
  it('has the 20 cases of PROVENANCE.md', () => expect(cases).toHaveLength(20));
  for (const c of cases) {
    it(`${c.valid ? 'valid' : 'invalid'}: ${c.input.length > 60 ? `${c.input.slice(0, 40)}... (${c.input.length} chars)` : c.input}`, () => {
      const id = parseAgentIdentifier(c.input);
      if (!c.valid) {
        expect(id).toBeUndefined();
        return;
      }
      expect(id).toBeDefined();
      expect(id!.name).toBe(c.name);
      expect(id!.discriminator).toBe(c.discriminator);
      expect(id!.domain).toBe(c.domain);
      expect(id!.id).toBe(c.input);
    });
  }

  it('where the vectors lag -11: the published text allows only a-z in the local part; strict mode follows it', () => {
    // "aauth:Agent@agent.example" is valid in the Go vectors and the profile, invalid in the -11 text.
    const upper = cases.filter((c) => c.valid && /[A-Z]/.test(c.input));
    expect(upper.map((c) => c.input)).toEqual(['aauth:Agent@agent.example']);
    expect(parseAgentIdentifier('aauth:Agent@agent.example', { strict: true })).toBeUndefined();
    for (const c of cases.filter((v) => v.valid && !/[A-Z]/.test(v.input))) expect(parseAgentIdentifier(c.input, { strict: true }), c.input).toBeDefined();
  });
});
