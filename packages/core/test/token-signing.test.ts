import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { compactVerify, importJWK, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { decodeToken, generateKey, signJwt, verifyToken } from '@aauth-kit/core';
import { signCompactJws, signJwtSync } from '@aauth-kit/core/internal';

// Issue 18: JWS signing left jose's asynchronous WebCrypto path for a synchronous node:crypto
// sign. These tests hold the new signer to jose: the same bytes where the algorithm is
// deterministic, a signature jose verifies where it is not, and jose's refusals of unfit keys.

const claims = { iss: 'https://as.example', aud: 'https://r.example', agent: 'https://a.example', iat: 1_700_000_000, exp: 1_700_000_300, scope: 'read' };

describe('signCompactJws', () => {
  it.each(['RS256', 'EdDSA'] as const)('%s: byte for byte the JWS jose signs (deterministic signatures)', async (alg) => {
    const { privateKey } = alg === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');
    const header = { alg, typ: 'auth+jwt', kid: 'k1' };
    const ours = signCompactJws(header, claims, alg, privateKey);
    const jose = await new SignJWT(claims).setProtectedHeader(header).sign(privateKey);
    expect(ours).toBe(jose);
  });

  it('ES256: an R || S signature of 64 bytes that jose verifies, header as given', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jws = signCompactJws({ typ: 'auth+jwt', kid: 'k2' }, claims, 'ES256', privateKey);
    expect(Buffer.from(jws.split('.')[2]!, 'base64url')).toHaveLength(64);
    const { protectedHeader, payload } = await compactVerify(jws, publicKey, { algorithms: ['ES256'] });
    expect(protectedHeader).toEqual({ typ: 'auth+jwt', kid: 'k2', alg: 'ES256' });
    expect(JSON.parse(Buffer.from(payload).toString('utf8'))).toEqual(claims);
  });

  it('Ed25519 (the -11 name) signs with the Ed25519 key; the same key under EdDSA makes a JWS jose verifies', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const jws = signCompactJws({ typ: 'aa-auth+jwt' }, claims, 'Ed25519', privateKey);
    expect(decodeToken(jws).header).toEqual({ typ: 'aa-auth+jwt', alg: 'Ed25519' });
    const resigned = signCompactJws({ typ: 'aa-auth+jwt' }, claims, 'EdDSA', privateKey);
    const jwk = await importJWK({ ...publicKey.export({ format: 'jwk' }) }, 'EdDSA');
    await expect(compactVerify(resigned, jwk)).resolves.toMatchObject({ protectedHeader: { alg: 'EdDSA' } });
  });

  it('refuses keys that cannot make the alg, as jose does: wrong type, short RSA, other curve, public key, unknown alg', () => {
    const ed = generateKeyPairSync('ed25519').privateKey;
    const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    expect(() => signCompactJws({}, claims, 'RS256', ed)).toThrow(/private rsa key/);
    expect(() => signCompactJws({}, claims, 'RS256', rsa1024)).toThrow(/2048 bits/);
    expect(() => signCompactJws({}, claims, 'ES256', p384)).toThrow(/P-256/);
    expect(() => signCompactJws({}, claims, 'EdDSA', createPublicKey(ed))).toThrow(/private ed25519 key/);
    expect(() => signCompactJws({}, claims, 'HS256', ed)).toThrow(/Unsupported JWS alg "HS256"/);
    expect(() => signCompactJws({}, claims, 'none', ed)).toThrow(TypeError);
  });
});

describe('signJwt / signJwtSync', () => {
  it('signJwtSync and signJwt make the same token, kid and alg from the key, and verifyToken accepts it', async () => {
    const key = generateKey({ kid: 'sync-1' });
    const sync = signJwtSync(key, { typ: 'auth+jwt' }, claims);
    expect(await signJwt(key, { typ: 'auth+jwt' }, claims)).toBe(sync);
    expect(decodeToken(sync).header).toEqual({ typ: 'auth+jwt', alg: 'EdDSA', kid: 'sync-1' });
    const verified = await verifyToken(
      signJwtSync(key, { typ: 'auth+jwt' }, { ...claims, cnf: { jwk: key.jwk }, iat: 1_000, exp: 1_200 }),
      { kind: 'auth', getKey: () => createPublicKey(key.privateKeyObject), audience: 'https://r.example', now: () => 1_100 },
    );
    expect(verified.claims).toMatchObject({ iss: 'https://as.example', agent: 'https://a.example' });
  });

  it('-11: the fully specified alg (Ed25519, ES256)', () => {
    expect(decodeToken(signJwtSync(generateKey({ kid: 'e' }), { typ: 'aa-auth+jwt' }, claims, { generation: 'draft-11' })).header.alg).toBe('Ed25519');
    expect(decodeToken(signJwtSync(generateKey({ kid: 'p', alg: 'ES256' }), { typ: 'aa-auth+jwt' }, claims, { generation: 'draft-11' })).header.alg).toBe('ES256');
  });

  it('refuses claims that are not an object', () => {
    const key = generateKey();
    expect(() => signJwtSync(key, { typ: 'JWT' }, [] as never)).toThrow(/claims must be an object/);
  });
});

describe('verifyToken prepares a returned key once', () => {
  it('the same KeyObject twice verifies both tokens; a wrong key still refuses (no stale preparation)', async () => {
    const key = generateKey({ kid: 'c1' });
    const other = generateKey({ kid: 'c2' });
    const pub = createPublicKey(key.privateKeyObject);
    const token = (k: typeof key) => signJwtSync(k, { typ: 'auth+jwt' }, { ...claims, cnf: { jwk: key.jwk }, iat: 1_000, exp: 1_200 });
    const options = { kind: 'auth' as const, getKey: () => pub, audience: 'https://r.example', now: () => 1_100 };
    await expect(verifyToken(token(key), options)).resolves.toBeDefined();
    await expect(verifyToken(token(key), options)).resolves.toBeDefined();
    await expect(verifyToken(token(other), options)).rejects.toMatchObject({ code: 'token_signature_invalid' });
  });
});
