import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { calculateJwkThumbprint } from 'jose';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  computeThumbprint,
  defaultCryptoBackend,
  generateKey,
  importPrivateKey,
  importPublicKey,
  loadKeyFile,
  saveKeyFile,
  type PrivateJwk,
} from '@aauth-kit/core';
import { exportPublicPem, rawPublicKey, setNobleLoaderForTests, setSodiumLoaderForTests } from '@aauth-kit/core/internal';
import { expectThrowsCode, freshKeyPair } from './support.js';


const data = Buffer.from('"@method": GET\n"@signature-params": ("@method");created=1');
const dir = mkdtempSync(join(tmpdir(), 'aauth-core-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// RFC 7638 section 3.1.
const RFC7638_RSA = {
  kty: 'RSA',
  n:
    '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W' +
    '-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD' +
    '08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
  e: 'AQAB',
  alg: 'RS256',
  kid: '2011-04-29',
};
// RFC 8037 appendix A.3 (Ed25519 public key and its RFC 7638 thumbprint).
const RFC8037_OKP = { kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' };

describe('generateKey', () => {
  it('generates Ed25519 by default with kid = RFC 7638 thumbprint', () => {
    const key = generateKey();
    expect(key.jwk.kty).toBe('OKP');
    expect(key.algorithm).toBe('ed25519');
    expect(key.jwsAlgorithm).toBe('EdDSA');
    expect(key.backend).toBe(defaultCryptoBackend());
    expect(key.thumbprint).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(key.kid).toBe(key.thumbprint);
    expect(key.thumbprint).toBe(computeThumbprint(key.jwk));
  });

  it('generates P-256 keys with alg ES256', () => {
    const key = generateKey({ alg: 'ES256' });
    expect(key.jwk).toMatchObject({ kty: 'EC', crv: 'P-256' });
    expect(key.algorithm).toBe('ecdsa-p256-sha256');
    expect(key.jwsAlgorithm).toBe('ES256');
    const sig = key.sign(data);
    expect(sig.length).toBe(64);
    expect(key.verify(data, sig)).toBe(true);
  });

  it('uses an explicit kid', () => {
    const key = generateKey({ kid: 'sca-1' });
    expect(key.kid).toBe('sca-1');
    expect(key.thumbprint).not.toBe('sca-1');
    expect(key.toPublishedJwk().kid).toBe('sca-1');
  });

  it('generates distinct keys', () => {
    expect(generateKey().thumbprint).not.toBe(generateKey().thumbprint);
  });

  it('refuses bad options with a TypeError naming the option', () => {
    expect(() => generateKey({ kid: '' })).toThrow(/options\.kid/);
    expect(() => generateKey({ backend: 'wasm' as never })).toThrow(TypeError);
    expect(() => generateKey({ alg: 'RS256' as never })).toThrow(/options\.alg/);
  });
});

describe('signing and verifying', () => {
  it('Ed25519 signatures verify with node:crypto directly and fail when data or signature change', () => {
    const key = generateKey();
    const sig = key.sign(data);
    expect(sig.length).toBe(64);
    expect(nodeVerify(null, data, createPublicKey(exportPublicPem(key)), sig)).toBe(true);
    expect(key.verify(data, sig)).toBe(true);
    expect(key.verify(Buffer.concat([data, Buffer.from('x')]), sig)).toBe(false);
    const bad = Uint8Array.from(sig);
    bad[0]! ^= 1;
    expect(key.verify(data, bad)).toBe(false);
    expect(key.verify(data, sig.subarray(0, 63))).toBe(false);
  });

  it('Ed25519 signing is deterministic', () => {
    const key = generateKey();
    expect(Buffer.from(key.sign(data))).toEqual(Buffer.from(key.sign(data)));
  });

  it('P-256 verify returns false, never throws, for wrong-length or garbage signatures', () => {
    const key = generateKey({ alg: 'ES256' });
    expect(key.verify(data, new Uint8Array(64))).toBe(false);
    expect(key.verify(data, new Uint8Array(72))).toBe(false);
    expect(key.verify(data, new Uint8Array(0))).toBe(false);
  });

  it('the node and noble backends give identical signature bytes and cross-verify', () => {
    const nodeKey = generateKey();
    const nobleKey = importPrivateKey(nodeKey.toPrivateJwk(), { backend: 'noble' });
    expect(nobleKey.backend).toBe('noble');
    for (const message of [data, new Uint8Array(0), Buffer.alloc(4096, 7)]) {
      const a = nodeKey.sign(message);
      const b = nobleKey.sign(message);
      expect(Buffer.from(b).equals(Buffer.from(a))).toBe(true);
      expect(nobleKey.verify(message, a)).toBe(true);
      expect(nodeKey.verify(message, b)).toBe(true);
    }
    const noblePub = importPublicKey(nodeKey.jwk, { backend: 'noble' });
    const sig = nodeKey.sign(data);
    expect(noblePub.verify(data, sig)).toBe(true);
    const bad = Uint8Array.from(sig);
    bad[10]! ^= 0x80;
    expect(noblePub.verify(data, bad)).toBe(false);
  });

  it('a noble public key with bytes that are not a curve point verifies nothing and does not throw', () => {
    const pub = importPublicKey({ kty: 'OKP', crv: 'Ed25519', x: Buffer.alloc(32, 0xff).toString('base64url') }, { backend: 'noble' });
    expect(pub.verify(data, new Uint8Array(64))).toBe(false);
  });
});

describe('import and export', () => {
  it('Ed25519 private JWK round trip keeps key, kid and signatures', () => {
    const key = generateKey({ kid: 'k1' });
    const jwk = key.toPrivateJwk();
    expect(jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', x: key.jwk.x, kid: 'k1' });
    expect(jwk.d).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const back = importPrivateKey(jwk);
    expect(back.kid).toBe('k1');
    expect(back.thumbprint).toBe(key.thumbprint);
    expect(Buffer.from(back.sign(data))).toEqual(Buffer.from(key.sign(data)));
  });

  it('imports a JWK given as JSON text and ignores alg/use/key_ops', () => {
    const key = generateKey();
    const text = JSON.stringify({ ...key.toPrivateJwk(), alg: 'EdDSA', use: 'sig', key_ops: ['sign'] });
    expect(importPrivateKey(text).thumbprint).toBe(key.thumbprint);
  });

  it('a key that is neither PEM nor JSON: key_invalid, never quoting the text (it is meant to be secret)', () => {
    // A fixed text starting with a letter (the form V8 quotes), and one starting with a digit (a
    // position-only message): a random key's first character would pick the form by chance.
    const d = 'nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A';
    for (const text of [d, `7${d.slice(1)}`, `{"kty":"OKP","crv":"Ed25519","d":${d}}`, `${d}}`]) {
      let error: (Error & { code?: string }) | undefined;
      try {
        importPrivateKey(text);
      } catch (e) {
        error = e as Error & { code?: string };
      }
      expect(error?.code).toBe('key_invalid');
      expect(error!.message).toMatch(/^Cannot import private key: it is neither a PEM private key nor a JSON JWK/);
      expect(error!.message).not.toContain(d.slice(1, 5));
    }
    // A position-only JSON error is kept as it is (it quotes nothing).
    expect(() => importPrivateKey('{"kty":"OKP"')).toThrow(/JSON/);
  });

  it('P-256 private JWK round trip', () => {
    const key = generateKey({ alg: 'ES256', kid: 'ec-1' });
    const back = importPrivateKey(key.toPrivateJwk());
    expect(back.jwk).toEqual(key.jwk);
    expect(back.kid).toBe('ec-1');
    expect(key.verify(data, back.sign(data))).toBe(true);
  });

  it('PEM round trips (Ed25519 and P-256); the kid defaults to the thumbprint', () => {
    for (const alg of ['EdDSA', 'ES256'] as const) {
      const key = generateKey({ alg, kid: 'named' });
      const pem = key.toPem();
      expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
      const back = importPrivateKey(pem);
      expect(back.jwk).toEqual(key.jwk);
      expect(back.kid).toBe(key.thumbprint);
      expect(importPrivateKey(`\n  ${pem}`, { kid: 'named' }).kid).toBe('named');
      expect(key.verify(data, back.sign(data))).toBe(true);
    }
  });

  it('exportPublicPem gives an SPKI PEM of the same key', () => {
    const key = generateKey({ alg: 'ES256' });
    const pem = exportPublicPem(key);
    expect(pem).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    expect(createPublicKey(pem).export({ format: 'jwk' })).toMatchObject({ x: key.jwk.x, y: (key.jwk as { y: string }).y });
  });

  it('an explicit kid wins over the JWK kid', () => {
    const jwk = generateKey({ kid: 'in-jwk' }).toPrivateJwk();
    expect(importPrivateKey(jwk, { kid: 'explicit' }).kid).toBe('explicit');
  });

  it('toPublishedJwk has kid and no alg or d (wire profile section 2)', () => {
    const key = generateKey();
    const published = key.toPublishedJwk();
    expect(Object.keys(published).sort()).toEqual(['crv', 'kid', 'kty', 'x']);
    expect(JSON.stringify(published)).not.toContain('"d"');
  });

  it('rawPublicKey gives the 32 raw bytes of an Ed25519 key and refuses P-256', () => {
    const key = generateKey();
    expect(Buffer.from(rawPublicKey(key)).toString('base64url')).toBe(key.jwk.x);
    expectThrowsCode(() => rawPublicKey(generateKey({ alg: 'ES256' })), 'unsupported_algorithm');
  });

  it('importPublicKey of a generated key verifies its signatures', () => {
    for (const alg of ['EdDSA', 'ES256'] as const) {
      const key = generateKey({ alg });
      const pub = importPublicKey(key.toPublishedJwk());
      expect(pub.thumbprint).toBe(key.thumbprint);
      expect(pub.verify(data, key.sign(data))).toBe(true);
      expect(pub.verify(data, generateKey({ alg }).sign(data))).toBe(false);
    }
  });

  it('importPublicKey accepts alg Ed25519 or EdDSA in the JWK (wire profile section 11)', () => {
    const key = generateKey();
    expect(importPublicKey({ ...key.jwk, alg: 'Ed25519' }).thumbprint).toBe(key.thumbprint);
    expect(importPublicKey({ ...key.jwk, alg: 'EdDSA' }).thumbprint).toBe(key.thumbprint);
  });
});

describe('bad keys', () => {
  const okp = generateKey().jwk;
  const ec = generateKey({ alg: 'ES256' }).jwk as { kty: 'EC'; crv: 'P-256'; x: string; y: string };

  it('non-objects are key_invalid', () => {
    for (const bad of [null, undefined, 'OKP', 42, [okp]]) expectThrowsCode(() => importPublicKey(bad), 'key_invalid', 401);
  });

  it('missing or empty kty is key_invalid; unknown kty and RSA are unsupported_algorithm', () => {
    expectThrowsCode(() => importPublicKey({ crv: 'Ed25519', x: okp.x }), 'key_invalid');
    expectThrowsCode(() => importPublicKey({ kty: '', x: okp.x }), 'key_invalid');
    expectThrowsCode(() => importPublicKey({ kty: 'oct', k: 'AAAA' }), 'unsupported_algorithm', 401);
    expectThrowsCode(() => importPublicKey(RFC7638_RSA), 'unsupported_algorithm');
  });

  it('wrong curves are unsupported_algorithm', () => {
    expectThrowsCode(() => importPublicKey({ ...okp, crv: 'X25519' }), 'unsupported_algorithm');
    expectThrowsCode(() => importPublicKey({ ...okp, crv: 'Ed448' }), 'unsupported_algorithm');
    expectThrowsCode(() => importPublicKey({ ...ec, crv: 'P-384' }), 'unsupported_algorithm');
    expectThrowsCode(() => importPublicKey({ ...ec, crv: 'secp256k1' }), 'unsupported_algorithm');
  });

  it('short, long, missing or non-base64url coordinates are key_invalid', () => {
    expectThrowsCode(() => importPublicKey({ ...okp, x: okp.x.slice(0, 42) }), 'key_invalid');
    expectThrowsCode(() => importPublicKey({ ...okp, x: `${okp.x}AA` }), 'key_invalid');
    expectThrowsCode(() => importPublicKey({ ...okp, x: undefined }), 'key_invalid');
    expectThrowsCode(() => importPublicKey({ ...okp, x: 42 }), 'key_invalid');
    expectThrowsCode(() => importPublicKey({ ...okp, x: `${okp.x.slice(0, 42)}+` }), 'key_invalid');
    expectThrowsCode(() => importPublicKey({ ...ec, y: undefined }), 'key_invalid');
    expectThrowsCode(() => importPublicKey({ ...ec, y: ec.y.slice(1) }), 'key_invalid');
  });

  it('an EC point that is not on the curve is key_invalid', () => {
    expectThrowsCode(() => importPublicKey({ ...ec, x: 'A'.repeat(43), y: 'A'.repeat(43) }), 'key_invalid');
  });

  it('a coordinate in a non-canonical spelling (unused low bits of its last character set) is key_invalid: one key, one thumbprint', () => {
    const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    // 43 characters carry 258 bits for 32 bytes: the last character's two low bits are unused.
    const respell = (v: string) => v.slice(0, -1) + ALPHABET[ALPHABET.indexOf(v.at(-1)!) ^ 1];
    expect(Buffer.from(respell(okp.x), 'base64url').equals(Buffer.from(okp.x, 'base64url'))).toBe(true);
    expect(importPublicKey(okp).thumbprint).toBe(computeThumbprint(okp));
    const e = expectThrowsCode(() => importPublicKey({ ...okp, x: respell(okp.x) }), 'key_invalid');
    expect(e.message).toContain('not canonical base64url');
    expectThrowsCode(() => importPublicKey({ ...ec, y: respell(ec.y) }), 'key_invalid');
  });

  it('a private member d in a public key is key_invalid', () => {
    const e = expectThrowsCode(() => importPublicKey(generateKey().toPrivateJwk()), 'key_invalid', 401);
    expect(e.message).toMatch(/"d"/);
  });

  it('private keys: no d, bad JSON, non-objects, public PEMs and RSA keys are refused', () => {
    expectThrowsCode(() => importPrivateKey(okp as never), 'key_invalid');
    expectThrowsCode(() => importPrivateKey('{not json'), 'key_invalid');
    expectThrowsCode(() => importPrivateKey('123'), 'key_invalid');
    expectThrowsCode(() => importPrivateKey(null as never), 'key_invalid');
    expectThrowsCode(() => importPrivateKey(exportPublicPem(generateKey())), 'key_invalid');
    expectThrowsCode(() => importPrivateKey('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'), 'key_invalid');
    const rsaPem = freshKeyPair('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expectThrowsCode(() => importPrivateKey(rsaPem), 'unsupported_algorithm');
    expectThrowsCode(() => importPrivateKey({ ...generateKey().toPrivateJwk(), crv: 'X25519' }), 'unsupported_algorithm');
  });

  it('a private JWK whose x (or x/y) does not belong to d is key_invalid, not silently another key', () => {
    const a = generateKey().toPrivateJwk();
    const b = generateKey().toPrivateJwk();
    expectThrowsCode(() => importPrivateKey({ ...a, x: b.x } as PrivateJwk), 'key_invalid');
    const c = generateKey({ alg: 'ES256' }).toPrivateJwk() as PrivateJwk & { y: string };
    const d = generateKey({ alg: 'ES256' }).toPrivateJwk() as PrivateJwk & { y: string };
    expectThrowsCode(() => importPrivateKey({ ...c, x: d.x, y: d.y } as PrivateJwk), 'key_invalid');
  });

  it('a private d of the wrong length is key_invalid', () => {
    const a = generateKey().toPrivateJwk();
    expectThrowsCode(() => importPrivateKey({ ...a, d: 'AAAA' }), 'key_invalid');
  });
});

describe('RFC 7638 thumbprints', () => {
  it('RFC 7638 section 3.1 RSA example', () => {
    expect(computeThumbprint(RFC7638_RSA)).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });

  it('RFC 8037 appendix A.3 OKP example', () => {
    expect(computeThumbprint(RFC8037_OKP)).toBe('kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k');
  });

  it('EC (P-256) thumbprints agree with jose', async () => {
    const jwk = { kty: 'EC', crv: 'P-256', x: 'jJ6Flys3zK9jUhnOHf6G49Dyp5hah6CNP84-gY-n9eo', y: 'nhI6iD5eFXgBTLt_1p3aip-5VbZeMhxeFSpjfEAf7Ww' };
    expect(computeThumbprint(jwk)).toBe('w9eYdC6_s_tLQ8lH6PUpc0mddazaqtPgeC2IgWDiqY8');
    for (let i = 0; i < 5; i++) {
      const key = generateKey({ alg: 'ES256' });
      expect(key.thumbprint).toBe(await calculateJwkThumbprint(key.jwk));
    }
  });

  it('ignores kid, alg, use and private members (never uses kid as thumbprint)', () => {
    const key = generateKey({ kid: 'not-the-thumbprint' });
    expect(computeThumbprint({ ...key.toPrivateJwk(), alg: 'EdDSA', use: 'sig' })).toBe(key.thumbprint);
    expect(computeThumbprint(key.toPublishedJwk())).toBe(key.thumbprint);
  });

  it('refuses JWKs missing required members', () => {
    expectThrowsCode(() => computeThumbprint({ kty: 'RSA', n: RFC7638_RSA.n }), 'key_invalid');
    expectThrowsCode(() => computeThumbprint({ kty: 'EC', crv: 'P-256', x: 'AA' }), 'key_invalid');
    expectThrowsCode(() => computeThumbprint({ kty: 'oct', k: 'AA' }), 'key_invalid');
    expectThrowsCode(() => computeThumbprint('OKP'), 'key_invalid');
  });
});

describe('key files', () => {
  const modeOf = (path: string): number => statSync(path).mode & 0o777;

  it('saves a JWK file with mode 0600 and loads it back with its kid', () => {
    const key = generateKey({ kid: 'file-key' });
    const path = join(dir, 'agent.jwk.json');
    saveKeyFile(path, key);
    expect(modeOf(path)).toBe(0o600);
    const stored = JSON.parse(readFileSync(path, 'utf8')) as Record<string, string>;
    expect(stored).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: 'file-key' });
    const loaded = loadKeyFile(path);
    expect(loaded.kid).toBe('file-key');
    expect(loaded.thumbprint).toBe(key.thumbprint);
    expect(Buffer.from(loaded.sign(data))).toEqual(Buffer.from(key.sign(data)));
  });

  it('saves and loads PEM files (Ed25519 and P-256)', () => {
    for (const alg of ['EdDSA', 'ES256'] as const) {
      const key = generateKey({ alg });
      const path = join(dir, `key-${alg}.pem`);
      saveKeyFile(path, key, { format: 'pem' });
      expect(modeOf(path)).toBe(0o600);
      expect(readFileSync(path, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
      const loaded = loadKeyFile(path, { kid: 'from-option' });
      expect(loaded.kid).toBe('from-option');
      expect(loaded.jwk).toEqual(key.jwk);
    }
  });

  it('tightens an existing world-readable file to 0600 and replaces its content', () => {
    const path = join(dir, 'existing.json');
    writeFileSync(path, 'x'.repeat(5000));
    chmodSync(path, 0o644);
    const key = generateKey();
    saveKeyFile(path, key);
    expect(modeOf(path)).toBe(0o600);
    expect(loadKeyFile(path).thumbprint).toBe(key.thumbprint);
  });

  it('loads a PEM written by another tool', () => {
    const { privateKey } = freshKeyPair('ed25519');
    const path = join(dir, 'openssl-style.pem');
    writeFileSync(path, privateKey.export({ format: 'pem', type: 'pkcs8' }));
    expect(loadKeyFile(path).jwk.x).toBe(createPublicKey(privateKey).export({ format: 'jwk' }).x);
  });

  it('a missing or garbage file is key_invalid', () => {
    expectThrowsCode(() => loadKeyFile(join(dir, 'nope.json')), 'key_invalid');
    const path = join(dir, 'garbage.json');
    writeFileSync(path, 'garbage');
    expectThrowsCode(() => loadKeyFile(path), 'key_invalid');
  });

  it('a missing file says how to make one; a folder says so', () => {
    const missing = join(dir, 'resource-key.json');
    expect(() => loadKeyFile(missing)).toThrow(
      `Cannot read key file ${missing}: there is no such file. Create one with \`npx aauth keygen --out ${missing}\` (or generateKey() and saveKeyFile(${JSON.stringify(missing)}, key) from @aauth-kit/core), or give the path of the key you have`,
    );
    expect(() => loadKeyFile(dir)).toThrow(`Cannot read key file ${dir}: that is a folder, not a key file`);
  });

  it('refuses bad arguments with TypeErrors', () => {
    expect(() => saveKeyFile(join(dir, 'x'), generateKey(), { format: 'der' as never })).toThrow(/options\.format/);
    expect(() => loadKeyFile('')).toThrow(TypeError);
  });
});

describe('the noble backend, loaded when asked for', () => {
  afterEach(() => setNobleLoaderForTests());

  it('is a TypeError naming the Node.js it needs where @noble/ed25519 cannot be required, when the key is made', () => {
    const seed = generateKey({ backend: 'node' });
    setNobleLoaderForTests(() => {
      throw Object.assign(new Error('require() of ES Module @noble/ed25519 not supported'), { code: 'ERR_REQUIRE_ESM' });
    });
    expect(() => importPrivateKey(seed.toPrivateJwk(), { backend: 'noble' })).toThrow(TypeError);
    expect(() => generateKey({ backend: 'noble' })).toThrow(/'noble' backend .*Node\.js 20\.19 or later .*use 'node' or 'sodium' here: require\(\) of ES Module/);
    // The other backends are untouched.
    expect(importPrivateKey(seed.toPrivateJwk(), { backend: 'node' }).backend).toBe('node');
  });

  it('loads @noble/ed25519 once, on the first noble key, and signs with it', () => {
    let loads = 0;
    setNobleLoaderForTests(() => {
      loads++;
      return createRequire(import.meta.url)('@noble/ed25519');
    });
    const key = generateKey({ backend: 'node' });
    expect(loads).toBe(0);
    const a = importPrivateKey(key.toPrivateJwk(), { backend: 'noble' });
    const b = importPublicKey(key.jwk, { backend: 'noble' });
    expect(Buffer.from(a.sign(data)).equals(Buffer.from(key.sign(data)))).toBe(true);
    expect(b.verify(data, a.sign(data))).toBe(true);
    expect(loads).toBe(1);
  });
});

describe('the default backend', () => {
  afterEach(() => setSodiumLoaderForTests());

  it("is 'sodium' here, where sodium-native is installed, for keys made or imported without a backend", () => {
    expect(defaultCryptoBackend()).toBe('sodium');
    expect(generateKey().backend).toBe('sodium');
    const key = generateKey();
    const data = Buffer.from('"@method": GET');
    const pub = importPublicKey(key.jwk);
    expect(pub.verify(data, key.sign(data))).toBe(true);
    expect(importPrivateKey(key.toPrivateJwk()).backend).toBe('sodium');
  });

  it("falls back to 'node' without throwing when sodium-native cannot be loaded, and decides once", () => {
    let loads = 0;
    setSodiumLoaderForTests(() => {
      loads++;
      throw new Error("Cannot find module 'sodium-native'");
    });
    expect(defaultCryptoBackend()).toBe('node');
    const key = generateKey();
    expect(key.backend).toBe('node');
    const data = Buffer.from('"@method": GET');
    expect(importPublicKey(key.jwk).verify(data, key.sign(data))).toBe(true);
    expect(defaultCryptoBackend()).toBe('node');
    expect(loads).toBe(1);
    // Asking for sodium explicitly still fails loudly at configuration time.
    expect(() => generateKey({ backend: 'sodium' })).toThrow(/needs the optional dependency sodium-native/);
    expect(() => importPublicKey(key.jwk, { backend: 'sodium' })).toThrow(TypeError);
    setSodiumLoaderForTests();
    expect(defaultCryptoBackend()).toBe('sodium');
  });

  it("never picks 'noble' by itself", () => {
    setSodiumLoaderForTests(() => ({}));
    expect(defaultCryptoBackend()).toBe('node');
  });
});

describe('the sodium backend (optional dependency sodium-native)', () => {
  it('signs the same bytes as node:crypto and verifies what node:crypto signs, and nothing else', async () => {
    const { generateKey: gen, importPrivateKey: imp, importPublicKey: pub } = await import('@aauth-kit/core');
    const nodeKey = gen();
    const sodiumKey = imp(nodeKey.toPrivateJwk(), { backend: 'sodium' });
    expect(sodiumKey.backend).toBe('sodium');
    const data = Buffer.from('"@method": GET\n"@signature-params": ()');
    const a = nodeKey.sign(data);
    expect(Buffer.from(sodiumKey.sign(data)).equals(Buffer.from(a))).toBe(true);
    const verifier = pub(nodeKey.jwk, { backend: 'sodium' });
    expect(verifier.verify(data, a)).toBe(true);
    expect(verifier.verify(Buffer.from('other'), a)).toBe(false);
    const bad = Buffer.from(a);
    bad[0] = bad[0]! ^ 1;
    expect(verifier.verify(data, bad)).toBe(false);
    expect(verifier.verify(data, a.slice(0, 63))).toBe(false);
  });
  it('refuses an unknown backend with a TypeError naming the option', async () => {
    const { generateKey: gen, importPublicKey: pub } = await import('@aauth-kit/core');
    expect(() => gen({ backend: 'openssl' as never })).toThrow(/options\.backend must be 'node', 'noble' or 'sodium'/);
    expect(() => pub(gen().jwk, { backend: 'x' as never })).toThrow(TypeError);
  });
});
