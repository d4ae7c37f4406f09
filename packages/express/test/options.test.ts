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
  ];
  for (const [name, options, message] of bad) {
    it(`${name} throws a TypeError naming the option`, () => {
      expect(() => createResource(options as ResourceOptions)).toThrow(TypeError);
      expect(() => createResource(options as ResourceOptions)).toThrow(message);
    });
  }
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
  ];
  for (const [name, options, message] of bad) {
    it(`${name} throws a TypeError`, () => {
      expect(() => resource.require(options as never)).toThrow(message);
    });
  }

  it('the auth-token level needs options.authServer', () => {
    const noServer = createResource({ identity: ok.identity, key });
    expect(() => noServer.require({ scope: 'read' })).toThrow(/^options.authServer is required/);
    expect(() => noServer.require({ level: 'identity' })).not.toThrow();
  });
});
