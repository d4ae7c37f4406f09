import { generateKeyPairSync } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultCryptoBackend, importTokenKey, verifyTokenSignature } from '../src/index.js';
import { rawPublicKey, setSodiumLoaderForTests, signCompactJws } from '../src/internal.js';

// Ed25519 token signatures are checked by the default backend: libsodium when sodium-native loads
// (installed here), node:crypto otherwise; both give the same answers (issue 18).
describe('Ed25519 token signatures follow the default backend', () => {
  afterEach(() => setSodiumLoaderForTests());

  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const jwt = signCompactJws({ alg: 'EdDSA', typ: 'JWT' }, { sub: 'x', n: 1 }, 'EdDSA', privateKey);
  const [h, p, sig] = jwt.split('.');
  const flipped = `${h}.${p}.${sig!.slice(0, 10)}${sig![10] === 'A' ? 'B' : 'A'}${sig!.slice(11)}`;
  const otherPayload = `${h}.${Buffer.from('{"sub":"y","n":1}').toString('base64url')}.${sig}`;

  it('uses libsodium when it is the default, and agrees with node:crypto', () => {
    expect(defaultCryptoBackend()).toBe('sodium');
    const key = importTokenKey(publicKey);
    expect(rawPublicKey(key.ed25519!).length).toBe(32);
    expect(verifyTokenSignature(jwt, 'EdDSA', key)).toBe(true);
    expect(verifyTokenSignature(jwt, 'Ed25519', key)).toBe(true);
    expect(verifyTokenSignature(flipped, 'EdDSA', key)).toBe(false);
    expect(verifyTokenSignature(otherPayload, 'EdDSA', key)).toBe(false);
    expect(verifyTokenSignature(jwt, 'RS256', key)).toBe(false);
  });

  it('falls back to node:crypto when sodium-native does not load, with the same answers', () => {
    setSodiumLoaderForTests(() => {
      throw new Error('Cannot find module sodium-native');
    });
    expect(defaultCryptoBackend()).toBe('node');
    const key = importTokenKey(publicKey);
    expect(key.ed25519).toBeUndefined();
    expect(verifyTokenSignature(jwt, 'EdDSA', key)).toBe(true);
    expect(verifyTokenSignature(flipped, 'EdDSA', key)).toBe(false);
    expect(verifyTokenSignature(otherPayload, 'EdDSA', key)).toBe(false);
  });

  it('checks a JWK-imported Ed25519 key with libsodium too', () => {
    const key = importTokenKey({ ...publicKey.export({ format: 'jwk' }), alg: 'EdDSA' });
    expect(key.ed25519).toBeDefined();
    expect(verifyTokenSignature(jwt, 'EdDSA', key)).toBe(true);
    expect(verifyTokenSignature(flipped, 'EdDSA', key)).toBe(false);
  });
});
