import { describe, expect, it } from 'vitest';
import { serverIdentifierProblem } from '@aauth-kit/core/internal';
import { loadVectors } from './load.js';

// Generation: draft-11 (AAuth -11 "Server Identifiers"); the Keycloak profile's identity URLs allow
// http on local names and ports (identityUrlProblem), which -11 allows only through allowLoopback.
const { cases, spec } = loadVectors<{ input: string; valid: boolean }>('server-identifier.json');

describe(`aauth-go server-identifier.json (${spec}), draft-11`, () => {
  it('has the 13 cases of PROVENANCE.md', () => expect(cases).toHaveLength(13));
  for (const c of cases) {
    it(`${c.valid ? 'valid' : 'invalid'}: ${c.input}`, () => {
      const problem = serverIdentifierProblem(c.input);
      if (c.valid) expect(problem).toBeUndefined();
      else expect(problem).toEqual(expect.any(String));
    });
  }

  it('the loopback relaxation does not turn any invalid case valid', () => {
    for (const c of cases.filter((v) => !v.valid)) expect(serverIdentifierProblem(c.input, { allowLoopback: true }), c.input).toBeDefined();
  });
});
