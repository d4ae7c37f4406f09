import { describe, expect, it } from 'vitest';
import { createVerifier, type VerifierOptions } from '@aauth-kit/verifier';

const ok: VerifierOptions = { identity: 'https://api.example' };

describe('createVerifier options are validated at creation', () => {
  const bad: Array<[string, unknown, RegExp]> = [
    ['no options', undefined, /^options must be an object/],
    ['identity missing', {}, /^options.identity must be a non-empty string/],
    ['identity with trailing slash', { identity: 'https://api.example/' }, /^options.identity must not end with a slash/],
    ['identity over plain http', { identity: 'http://api.example' }, /^options.identity must use https/],
    ['trustedIssuers not an array', { ...ok, trustedIssuers: 'https://as.example' }, /^options.trustedIssuers must be an array/],
    ['trustedIssuers entry not a URL', { ...ok, trustedIssuers: ['as'] }, /^options.trustedIssuers\[0\] must be an absolute/],
    ['localIssuerKeys without keys', { ...ok, localIssuerKeys: { 'https://as.example': {} } }, /^options.localIssuerKeys\["https:\/\/as.example"\].keys/],
    ['algorithms with HS256', { ...ok, algorithms: ['HS256'] }, /^options.algorithms may only contain/],
    ['algorithms with none', { ...ok, algorithms: ['none'] }, /^options.algorithms may only contain/],
    ['algorithms empty', { ...ok, algorithms: [] }, /^options.algorithms must not be empty/],
    ['maxSkew negative', { ...ok, maxSkew: -1 }, /^options.maxSkew must be a positive number/],
    ['now not a function', { ...ok, now: 5 }, /^options.now must be a function/],
    ['fetch not a function', { ...ok, fetch: 'x' }, /^options.fetch must be a function/],
    ['replay.methods unknown', { ...ok, replay: { methods: 'some' } }, /^options.replay.methods/],
    ['replay.store without checkAndStore', { ...ok, replay: { store: {} } }, /^options.replay.store must have a checkAndStore/],
    ['discovery.timeoutMs zero', { ...ok, discovery: { timeoutMs: 0 } }, /^options.discovery.timeoutMs must be a positive integer/],
    ['discovery.maxEntries fractional', { ...ok, discovery: { maxEntries: 1.5 } }, /^options.discovery.maxEntries must be a positive integer/],
    ['discovery.allowHosts not strings', { ...ok, discovery: { allowHosts: [1] } }, /^options.discovery.allowHosts must be an array/],
    ['discovery.resolveHostname not a function', { ...ok, discovery: { resolveHostname: {} } }, /^options.discovery.resolveHostname must be a function/],
    ['requireContentDigest not boolean', { ...ok, requireContentDigest: 'no' }, /^options.requireContentDigest must be a boolean/],
    // A misspelt option used to be dropped without a word (trustedIssuer: no issuer trusted, every token refused).
    ['a misspelt option', { ...ok, trustedIssuer: ['https://as.example'] }, /^options.trustedIssuer is not an option of createVerifier \(did you mean trustedIssuers\?\)$/],
    ['an option in another case', { ...ok, MaxSkew: 30 }, /^options.MaxSkew is not an option of createVerifier \(did you mean maxSkew\?\)$/],
    ['a misspelt -11 option', { ...ok, draft11: { personServer: ['https://ps.example'] } }, /^options.draft11.personServer is not an option \(did you mean personServers\?\)$/],
    ['a misspelt replay option', { ...ok, replay: { method: 'all' } }, /^options.replay.method is not an option \(did you mean methods\?\)$/],
    ['a misspelt discovery option', { ...ok, discovery: { maxEntry: 10 } }, /^options.discovery.maxEntry is not an option \(did you mean maxEntries\?\)$/],
    ['leeway negative', { ...ok, leeway: -1 }, /^options.leeway must be a positive number/],
    ['tokenLeeway (deprecated alias) negative', { ...ok, tokenLeeway: -1 }, /^options.tokenLeeway must be a positive number/],
    ['leeway and tokenLeeway disagree', { ...ok, leeway: 5, tokenLeeway: 30 }, /^options.leeway and options.tokenLeeway \(its deprecated alias\) disagree/],
  ];
  for (const [name, options, message] of bad) {
    it(`${name} throws a TypeError naming the option`, () => {
      expect(() => createVerifier(options as VerifierOptions)).toThrow(TypeError);
      expect(() => createVerifier(options as VerifierOptions)).toThrow(message);
    });
  }

  it('local identities over http and valid options are accepted', () => {
    expect(() => createVerifier({ identity: 'http://localhost:3000', trustedIssuers: ['http://localhost:8080/realms/aauth-test'] })).not.toThrow();
    expect(() => createVerifier({ identity: 'http://sca.localhost:3000', algorithms: ['EdDSA'], replay: { methods: 'all' } })).not.toThrow();
  });
});
