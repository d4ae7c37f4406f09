import { describe, expect, it } from 'vitest';
import { parseChallenge, parseRequirement, serializeRequirement, type RequirementValue } from '@aauth-kit/core';
import { loadVectors } from './load.js';

// Generation: draft-11 (AAuth-Requirement; the Keycloak profile's challenge is the AAuth header).
interface Case {
  header: string;
  parsed: { Requirement: string; ResourceToken?: string; URL?: string; Code?: string };
  canonical: boolean;
}
const { cases, spec } = loadVectors<Case>('requirement.json');

describe(`aauth-go requirement.json (${spec}), draft-11`, () => {
  it('has the 8 cases of PROVENANCE.md', () => expect(cases).toHaveLength(8));
  for (const c of cases) {
    it(`${c.canonical ? 'canonical' : 'accepted'}: ${c.header}`, () => {
      const parsed = parseRequirement(c.header);
      expect(parsed.requirement).toBe(c.parsed.Requirement);
      expect(parsed.known).toBe(true);
      expect(parsed.resourceToken).toBe(c.parsed.ResourceToken);
      expect(parsed.url).toBe(c.parsed.URL);
      expect(parsed.code).toBe(c.parsed.Code);
      // The agent's challenge reader sees the same requirement.
      expect(parseChallenge({ 'aauth-requirement': c.header })?.require).toBe(c.parsed.Requirement);
      if (c.canonical) {
        const header = serializeRequirement({
          requirement: c.parsed.Requirement as RequirementValue,
          resourceToken: c.parsed.ResourceToken,
          url: c.parsed.URL,
          code: c.parsed.Code,
        });
        expect(header).toBe(c.header);
      }
    });
  }
});
