import { describe, expect, it } from 'vitest';
import { buildChallenge, parseChallenge, type Challenge } from '@aauth-kit/core';
import { buildRequirement, parseChallengeHeader, REQUIRE_LEVELS } from '@aauth-kit/core/internal';
import { expectThrowsCode } from './support.js';

const RT = 'eyJhbGciOiJFZERTQSIsInR5cCI6InJlc291cmNlK2p3dCJ9.eyJpc3MiOiJodHRwOi8vbG9jYWxob3N0OjMwMDAifQ.c2ln';
const AS = 'http://localhost:8080/realms/aauth-test';

describe('buildChallenge / buildRequirement', () => {
  it('builds the section 5 header exactly', () => {
    expect(buildChallenge({ require: 'auth-token', resourceToken: RT, authServer: AS })).toBe(
      `require=auth-token; resource-token="${RT}"; auth-server="${AS}"`,
    );
  });

  it('builds bare levels', () => {
    expect(buildChallenge({ require: 'pseudonym' })).toBe('require=pseudonym');
    expect(buildChallenge({ require: 'identity' })).toBe('require=identity');
  });

  it('builds the section 11 AAuth-Requirement form without auth-server', () => {
    expect(buildRequirement({ require: 'auth-token', resourceToken: RT, authServer: AS })).toBe(
      `requirement=auth-token; resource-token="${RT}"`,
    );
  });

  for (const level of REQUIRE_LEVELS) {
    it(`build then parse round trips require=${level} in both spellings`, () => {
      const options = { require: level, resourceToken: RT, authServer: AS, ...(level === 'interaction' ? { code: 'ABCD-1234' } : {}) };
      const parsed = parseChallengeHeader(buildChallenge(options));
      expect(parsed).toMatchObject({ require: level, satisfiable: true, resourceToken: RT, authServer: AS, spelling: 'AAuth' });
      if (level === 'interaction') expect(parsed.code).toBe('ABCD-1234');
      const requirement = parseChallengeHeader(buildRequirement(options), 'AAuth-Requirement');
      expect(requirement).toMatchObject({ require: level, satisfiable: true, resourceToken: RT, spelling: 'AAuth-Requirement' });
      expect(requirement.authServer).toBeUndefined();
    });
  }

  it('escapes quotes in values and parses them back', () => {
    const header = buildChallenge({ require: 'interaction', code: 'a"b\\c' });
    expect(header).toBe('require=interaction; code="a\\"b\\\\c"');
    expect(parseChallengeHeader(header).code).toBe('a"b\\c');
  });

  it('refuses misuse with TypeErrors naming the option', () => {
    expect(() => buildChallenge({ require: 'payment' as never })).toThrow(/options\.require/);
    expect(() => buildChallenge({ require: 'auth-token', resourceToken: '' })).toThrow(/options\.resourceToken/);
    expect(() => buildChallenge({ require: 'auth-token', authServer: 'https://ä.example' })).toThrow(TypeError);
    expect(() => buildRequirement({ require: 'auth-token', resourceToken: 'a\nb' })).toThrow(TypeError);
  });
});

describe('the three spellings parse into one typed value (sections 5 and 11)', () => {
  const expected = { require: 'auth-token', satisfiable: true, resourceToken: RT };

  it('AAuth', () => {
    const c = parseChallengeHeader(`require=auth-token; resource-token="${RT}"; auth-server="${AS}"`, 'AAuth');
    expect(c).toMatchObject({ ...expected, authServer: AS, spelling: 'AAuth' });
    expect(c.params).toEqual({ require: 'auth-token', 'resource-token': RT, 'auth-server': AS });
  });

  it('AAuth-Requirement', () => {
    const c = parseChallengeHeader(`requirement=auth-token; resource-token="${RT}"`, 'AAuth-Requirement');
    expect(c).toMatchObject({ ...expected, spelling: 'AAuth-Requirement' });
    expect(c.authServer).toBeUndefined();
  });

  it('Agent-Auth (old form)', () => {
    const c = parseChallengeHeader(`httpsig; auth-token; resource_token="${RT}"; auth_server="${AS}"`, 'Agent-Auth');
    expect(c).toMatchObject({ ...expected, authServer: AS, spelling: 'Agent-Auth' });
  });

  it('Agent-Auth without auth-token means identity or pseudonym', () => {
    expect(parseChallengeHeader('httpsig; identity', 'Agent-Auth').require).toBe('identity');
    expect(parseChallengeHeader('httpsig', 'Agent-Auth').require).toBe('pseudonym');
    expectThrowsCode(() => parseChallengeHeader('nothing-known', 'Agent-Auth'), 'challenge_malformed', 400);
  });

  it('all three give the same typed fields', () => {
    const pick = (c: Challenge) => ({ require: c.require, satisfiable: c.satisfiable, resourceToken: c.resourceToken });
    const a = parseChallenge({ aauth: `require=auth-token; resource-token="${RT}"; auth-server="${AS}"` })!;
    const b = parseChallenge({ 'aauth-requirement': `requirement=auth-token; resource-token="${RT}"` })!;
    const c = parseChallenge({ 'agent-auth': `httpsig; auth-token; resource_token="${RT}"; auth_server="${AS}"` })!;
    expect(pick(a)).toEqual(pick(b));
    expect(pick(b)).toEqual(pick(c));
    expect([a.spelling, b.spelling, c.spelling]).toEqual(['AAuth', 'AAuth-Requirement', 'Agent-Auth']);
  });

  it('accepts tokens without quotes, odd spacing and upper-case parameter names', () => {
    const c = parseChallengeHeader('Require = identity ;auth-server=http://localhost:8080');
    expect(c).toMatchObject({ require: 'identity', authServer: 'http://localhost:8080' });
  });

  it('an unknown require value parses but is unsatisfiable', () => {
    const c = parseChallengeHeader('require=payment; amount="3"');
    expect(c).toMatchObject({ require: 'payment', satisfiable: false });
    expect(c.params.amount).toBe('3');
    expect(parseChallengeHeader('requirement=approval', 'AAuth-Requirement').satisfiable).toBe(false);
  });

  it('keeps the first value of a repeated parameter', () => {
    expect(parseChallengeHeader('require=identity; require=auth-token').require).toBe('identity');
  });
});

describe('parseChallenge on response headers', () => {
  it('reads fetch Headers', () => {
    const headers = new Headers({ AAuth: `require=auth-token; resource-token="${RT}"; auth-server="${AS}"`, 'Content-Type': 'application/json' });
    expect(parseChallenge(headers)).toMatchObject({ require: 'auth-token', resourceToken: RT, authServer: AS, spelling: 'AAuth' });
  });

  it('reads plain records with any header-name case, and arrays', () => {
    expect(parseChallenge({ 'AAuth-Requirement': 'requirement=identity' })?.require).toBe('identity');
    expect(parseChallenge({ 'agent-auth': ['httpsig; identity'] })?.spelling).toBe('Agent-Auth');
  });

  it('prefers AAuth over the other spellings', () => {
    const c = parseChallenge({ 'agent-auth': 'httpsig', aauth: 'require=identity', 'aauth-requirement': 'requirement=auth-token' });
    expect(c).toMatchObject({ spelling: 'AAuth', require: 'identity' });
  });

  it('returns undefined when no challenge is present', () => {
    expect(parseChallenge({})).toBeUndefined();
    expect(parseChallenge(new Headers({ 'www-authenticate': 'Bearer' }))).toBeUndefined();
    expect(parseChallenge([['content-type', 'text/plain']])).toBeUndefined();
  });
});

describe('malformed challenges', () => {
  it('are challenge_malformed (400)', () => {
    for (const value of [
      '',
      '   ',
      `require=auth-token; resource-token="${RT}`,
      'require="auth-token',
      'require=auth-token; resource-token="abc\\',
      'require=',
      'require=; x=1',
      '=auth-token',
      'require=auth-token resource-token="x"',
      'require=auth-token; ;',
      '"require"=identity',
      'resource-token="abc"',
    ]) {
      expectThrowsCode(() => parseChallengeHeader(value), 'challenge_malformed', 400);
    }
  });

  it('a malformed header found by parseChallenge throws too', () => {
    expectThrowsCode(() => parseChallenge({ aauth: 'require="x' }), 'challenge_malformed');
  });

  it('an oversized header is challenge_malformed', () => {
    expectThrowsCode(() => parseChallengeHeader(`require=auth-token; resource-token="${'a'.repeat(17 * 1024)}"`), 'challenge_malformed');
  });
});
