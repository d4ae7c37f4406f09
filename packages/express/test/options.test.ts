import { describe, expect, it } from 'vitest';
import { generateKey } from '@aauth-kit/core';
import { createResource, type ResourceOptions } from '@aauth-kit/express';

const key = generateKey();
const ok: ResourceOptions = { identity: 'https://api.example', key, authServer: 'https://as.example' };

describe('createResource options are validated at creation', () => {
  const bad: Array<[string, unknown, RegExp]> = [
    ['no options', undefined, /^options must be an object/],
    ['identity missing', { key }, /^options.identity must be a non-empty string/],
    ['identity with a query', { ...ok, identity: 'https://api.example?x=1' }, /^options.identity must not have a query/],
    ['key missing', { identity: ok.identity }, /^options.key must be a SigningKey/],
    ['key a JWK object', { ...ok, key: key.toPrivateJwk() }, /^options.key must be a SigningKey/],
    ['key ES256', { ...ok, key: generateKey({ alg: 'ES256' }) }, /^options.key must be an Ed25519 key/],
    ['authServer not a URL', { ...ok, authServer: 'as' }, /^options.authServer must be an absolute URL/],
    ['authServer.issuer with trailing slash', { ...ok, authServer: { issuer: 'https://as.example/' } }, /^options.authServer.issuer must not end with a slash/],
    ['authServer.trustedIssuers bad entry', { ...ok, authServer: { issuer: 'https://as.example', trustedIssuers: ['x'] } }, /^options.authServer.trustedIssuers\[0\]/],
    ['scopes with a space', { ...ok, scopes: { 'a b': 'x' } }, /^options.scopes key "a b" is not a valid scope/],
    ['scope description not a string', { ...ok, scopes: { a: 1 } }, /^options.scopes\["a"\] must be a string/],
    ['additionalSignatureComponents not names', { ...ok, additionalSignatureComponents: ['a b'] }, /^options.additionalSignatureComponents/],
    ['maxBodyBytes negative', { ...ok, maxBodyBytes: -1 }, /^options.maxBodyBytes/],
    ['errors unknown', { ...ok, errors: 'throw' }, /^options.errors/],
    ['onError not a function', { ...ok, onError: 'log' }, /^options.onError/],
    ['callerKey not a function', { ...ok, callerKey: 'x-forwarded-for' }, /^options.callerKey must be a function/],
    ['discovery.maxInflightPerCaller not a positive integer', { ...ok, discovery: { maxInflightPerCaller: 0 } }, /^options.discovery.maxInflightPerCaller must be a positive integer/],
    ['a verifier option is checked too', { ...ok, maxSkew: 0 }, /^options.maxSkew must be a positive number/],
    // A misspelt option used to be dropped without a word.
    ['a misspelt option', { ...ok, authserver: 'https://as.example' }, /^options.authserver is not an option of createResource \(did you mean authServer\?\)$/],
    ['a misspelt verifier option', { ...ok, maxskew: 30 }, /^options.maxskew is not an option of createResource \(did you mean maxSkew\?\)$/],
    ["a route's scope given to the resource", { ...ok, scope: 'read' }, /^options.scope is not an option of createResource: a route's scope goes to resource.require\(\{ scope \}\)/],
    ["a route's level given to the resource", { ...ok, level: 'identity' }, /^options.level is not an option of createResource: a route's level goes to resource.require/],
    ['trustedIssuers at the top', { ...ok, trustedIssuers: ['https://b.example'] }, /^options.trustedIssuers is not an option of createResource: more trusted issuers go in authServer: \{ issuer, trustedIssuers \}/],
    ['a name far from every option', { ...ok, colour: 'blue' }, /^options.colour is not an option of createResource \(its options: identity, key, authServer, /],
    ['a misspelt -11 option', { ...ok, draft11: { accesServer: 'https://ps.example' } }, /^options.draft11.accesServer is not an option \(did you mean accessServer\?\)$/],
    ['a misspelt replay option', { ...ok, replay: { stores: {} } }, /^options.replay.stores is not an option \(did you mean store\?\)$/],
    ['a misspelt discovery option', { ...ok, discovery: { timeout: 100 } }, /^options.discovery.timeout is not an option/],
    ['a route scope list as scopes', { ...ok, scopes: ['read'] }, /^options.scopes must be an object of scope -> description \(the scopes this resource knows, for the metadata; a route's scope is options.scope\)/],
    ['metadata not an object', { ...ok, metadata: 'Acme' }, /^options.metadata must be an object of display fields/],
    ['a misspelt display field', { ...ok, metadata: { logo: 'https://a.example/l.png' } }, /^options.metadata.logo is not an option \(did you mean logo_uri\?\)$/],
    ['a display field not a string', { ...ok, metadata: { name: 42 } }, /^options.metadata.name must be a non-empty string/],
    ['a logo that is not http(s)', { ...ok, metadata: { logo_uri: 'javascript:alert(1)' } }, /^options.metadata.logo_uri must be an absolute http\(s\) URL without credentials/],
    ['a policy URL with credentials', { ...ok, metadata: { policy_uri: 'https://u:p@a.example/p' } }, /^options.metadata.policy_uri must be an absolute http\(s\) URL without credentials/],
  ];
  for (const [name, options, message] of bad) {
    it(`${name} throws a TypeError naming the option`, () => {
      expect(() => createResource(options as ResourceOptions)).toThrow(TypeError);
      expect(() => createResource(options as ResourceOptions)).toThrow(message);
    });
  }
});

describe('options.metadata: the display fields published in aauth-resource.json', () => {
  it('publishes them beside the protocol fields, which they cannot replace', () => {
    const resource = createResource({ ...ok, metadata: { name: 'Acme API', logo_uri: 'https://cdn.acme.example/logo.png', tos_uri: 'https://acme.example/tos' } });
    expect(resource.metadata).toMatchObject({ resource: ok.identity, jwks_uri: `${ok.identity}/jwks.json`, name: 'Acme API', logo_uri: 'https://cdn.acme.example/logo.png', tos_uri: 'https://acme.example/tos' });
    expect(createResource(ok).metadata).not.toHaveProperty('name');
  });
});

describe('require() options are validated when the route is declared', () => {
  const resource = createResource({ ...ok, scopes: { read: 'Read' } });
  const bad: Array<[string, unknown, RegExp]> = [
    ['unknown level', { level: 'admin' }, /^options.level must be/],
    ['auth-token without scope', { level: 'auth-token' }, /^options.scope must name at least one scope/],
    ['scope not in options.scopes', { scope: 'write' }, /^options.scope write is not in options.scopes/],
    ['scope on a signature route', { level: 'signature', scope: 'read' }, /^options.scope is only meaningful at the auth-token level/],
    ['scope with a quote', { scope: ['re"ad'] }, /^options.scope must be/],
    ['requiredComponents not names', { requiredComponents: [1] }, /^options.requiredComponents/],
    // `scopes` for `scope` used to make a signature-level route that any signer passed.
    ['scopes for scope', { scopes: 'read' }, /^options.scopes is not an option of resource.require \(did you mean scope\?\)$/],
    ['levle for level', { levle: 'identity' }, /^options.levle is not an option of resource.require \(did you mean level\?\)$/],
    ['an empty scope list and no level', { scope: [] }, /^options.scope is empty: name at least one scope for an auth-token route, or leave scope out/],
    ['an empty scope string and no level', { scope: ' ' }, /^options.scope is empty/],
  ];
  for (const [name, options, message] of bad) {
    it(`${name} throws a TypeError`, () => {
      expect(() => resource.require(options as never)).toThrow(message);
    });
  }

  it('an empty scope with a level below auth-token is still that level', () => {
    expect(() => resource.require({ level: 'identity', scope: [] })).not.toThrow();
  });

  it('the auth-token level needs options.authServer', () => {
    const noServer = createResource({ identity: ok.identity, key });
    expect(() => noServer.require({ scope: 'read' })).toThrow(/^options.authServer is required/);
    expect(() => noServer.require({ level: 'identity' })).not.toThrow();
  });
});
