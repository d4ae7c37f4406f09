import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AAuthError, REQUIREMENTS, parseChallenge, parseRequirement, serializeRequirement } from '@aauth-kit/core';
import { interactionUrlProblem } from '@aauth-kit/core/internal';
import { expectThrowsCode } from './support.js';

const RUNS = { numRuns: 300, seed: 20261130 } as const;
const RT = 'eyJhbGciOiJFZDI1NTE5In0.e30.c2ln';

describe('parseRequirement (AAuth -11 "Requirement Responses", draft-11 profile section 7)', () => {
  it('reads each value -11 defines, and its parameters', () => {
    expect(REQUIREMENTS).toEqual(['agent-token', 'person-token', 'auth-token', 'interaction', 'approval', 'clarification', 'claims']);
    for (const value of REQUIREMENTS) expect(parseRequirement(`requirement=${value}`)).toEqual({ requirement: value, known: true, params: {} });
    expect(parseRequirement(`requirement=auth-token; resource-token="${RT}"`)).toEqual({
      requirement: 'auth-token',
      known: true,
      resourceToken: RT,
      params: { 'resource-token': RT },
    });
    expect(parseRequirement('requirement=interaction; url="https://ps.example/i"; code="A1B2-C3D4"')).toMatchObject({
      requirement: 'interaction',
      url: 'https://ps.example/i',
      code: 'A1B2-C3D4',
    });
  });

  it('an unknown value parses but is not known (never satisfiable)', () => {
    expect(parseRequirement('requirement=payment; amount=5')).toEqual({ requirement: 'payment', known: false, params: { amount: 5 } });
  });

  it('ignores unknown parameters and other members; takes the last requirement member; joins header lines', () => {
    expect(parseRequirement('requirement=agent-token;future="x", other=?1').requirement).toBe('agent-token');
    expect(parseRequirement('requirement=approval, requirement=person-token').requirement).toBe('person-token');
    expect(parseRequirement(['requirement=interaction;url="https://a.example/x"', 'z=1']).url).toBe('https://a.example/x');
  });

  it('a requirement that is not a token, missing, or a malformed dictionary is challenge_malformed', () => {
    for (const bad of ['requirement="auth-token"', 'requirement=(a b)', 'other=1', '', 'requirement=auth-token;', 'Requirement=x', 'requirement=a,,']) {
      expectThrowsCode(() => parseRequirement(bad), 'challenge_malformed', 400);
    }
    expectThrowsCode(() => parseRequirement(`requirement=auth-token; resource-token="${'a'.repeat(17 * 1024)}"`), 'challenge_malformed');
  });

  it('parseChallenge still finds the AAuth-Requirement header (the agent reads both generations)', () => {
    const c = parseChallenge({ 'AAuth-Requirement': `requirement=auth-token; resource-token="${RT}"` });
    expect(c).toMatchObject({ require: 'auth-token', spelling: 'AAuth-Requirement', resourceToken: RT, satisfiable: true });
  });

  it('property: any string parses or throws challenge_malformed (400), nothing else', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string().map((s) => `requirement=${s}`), fc.string().map((s) => `requirement=auth-token; resource-token=${s}`)), (value) => {
        try {
          const parsed = parseRequirement(value);
          expect(typeof parsed.requirement).toBe('string');
          expect(parsed.known).toBe((REQUIREMENTS as readonly string[]).includes(parsed.requirement));
        } catch (error) {
          if (!(error instanceof AAuthError) || error.code !== 'challenge_malformed') throw error;
        }
      }),
      RUNS,
    );
  });
});

describe('serializeRequirement', () => {
  it('writes the canonical forms that parse back', () => {
    expect(serializeRequirement({ requirement: 'agent-token' })).toBe('requirement=agent-token');
    expect(serializeRequirement({ requirement: 'auth-token', resourceToken: RT })).toBe(`requirement=auth-token; resource-token="${RT}"`);
    const interaction = serializeRequirement({ requirement: 'interaction', url: 'https://ps.example/interaction', code: 'A1B2-C3D4' });
    expect(interaction).toBe('requirement=interaction; url="https://ps.example/interaction"; code="A1B2-C3D4"');
    expect(parseRequirement(interaction)).toMatchObject({ requirement: 'interaction', url: 'https://ps.example/interaction', code: 'A1B2-C3D4' });
  });

  it('refuses what -11 does not allow (TypeError)', () => {
    expect(() => serializeRequirement({ requirement: 'payment' as never })).toThrow(/options\.requirement/);
    expect(() => serializeRequirement({ requirement: 'auth-token' })).toThrow(/resourceToken/);
    expect(() => serializeRequirement({ requirement: 'interaction', url: 'https://a.example/x' })).toThrow(/code/);
    expect(() => serializeRequirement({ requirement: 'interaction', url: 'https://a.example/x?y=1', code: 'ABCD1234' })).toThrow(/query/);
    expect(() => serializeRequirement({ requirement: 'interaction', url: 'http://a.example/x', code: 'ABCD1234' })).toThrow(/https/);
    expect(() => serializeRequirement({ requirement: 'auth-token', resourceToken: 'tök' })).toThrow(TypeError);
  });

  it('interactionUrlProblem: https, no query, fragment or credentials', () => {
    expect(interactionUrlProblem('https://ps.example/interact')).toBeUndefined();
    expect(interactionUrlProblem('https://ps.example/i#x')).toMatch(/fragment/);
    expect(interactionUrlProblem('https://u:p@ps.example/i')).toMatch(/credentials/);
    expect(interactionUrlProblem('/relative')).toMatch(/absolute/);
  });
});
