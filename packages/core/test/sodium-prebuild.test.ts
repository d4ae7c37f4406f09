import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSodiumPrebuild } from '@aauth-kit/core/internal';

// Issue 18 (cold start): core loads sodium-native 5's prebuilt addon directly (loadSodiumPrebuild)
// and wraps the three functions it calls with the package's own argument checks; anything
// unexpected falls back to require('sodium-native'). Nothing here is timed.
const require = createRequire(import.meta.url);
const sodium = require('sodium-native') as {
  crypto_sign_seed_keypair(pk: Uint8Array, sk: Uint8Array, seed: Uint8Array): void;
  crypto_sign_detached(sig: Uint8Array, m: Uint8Array, sk: Uint8Array): void;
  crypto_sign_verify_detached(sig: Uint8Array, m: Uint8Array, pk: Uint8Array): boolean;
};
const manifestPath = require.resolve('sodium-native/package.json');
const addonPath = join(dirname(manifestPath), 'prebuilds', `${process.platform}-${process.arch}`, 'sodium-native.node');
const vectors = (JSON.parse(readFileSync(fileURLToPath(new URL('./vectors/rfc8032-ed25519.json', import.meta.url)), 'utf8')) as { vectors: { secret_key: string; public_key: string; message: string; signature: string }[] }).vectors;
const hex = (h: string): Buffer => Buffer.from(h, 'hex');
const dir = mkdtempSync(join(tmpdir(), 'aauth-sodium-prebuild-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A `require` that sees a sodium-native of `version` in `dir`, whose addon is `binding` (when the prebuild file exists). */
function fakeRequire(version: string, binding: unknown, withPrebuild = true): NodeJS.Require {
  const root = mkdtempSync(join(dir, 'pkg-'));
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'sodium-native', version }));
  const addon = join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'sodium-native.node');
  if (withPrebuild) {
    mkdirSync(dirname(addon), { recursive: true });
    writeFileSync(addon, '');
  }
  const fake = (id: string): unknown => {
    if (id === join(root, 'package.json')) return { name: 'sodium-native', version };
    if (id === addon) return binding;
    throw new Error(`unexpected require ${id}`);
  };
  return Object.assign(fake, { resolve: (id: string) => (id === 'sodium-native/package.json' ? join(root, 'package.json') : require.resolve(id)) }) as unknown as NodeJS.Require;
}

describe('loadSodiumPrebuild (issue 18, cold start)', () => {
  const api = loadSodiumPrebuild();

  it("loads this platform's prebuilt addon here, and it signs and verifies as the package's own API does (RFC 8032 vectors)", () => {
    expect(api).toBeDefined();
    for (const v of vectors) {
      const pk = Buffer.alloc(32);
      const sk = Buffer.alloc(64);
      api!.crypto_sign_seed_keypair(pk, sk, hex(v.secret_key));
      expect(pk.toString('hex')).toBe(v.public_key);
      const sig = Buffer.alloc(64);
      api!.crypto_sign_detached(sig, hex(v.message), sk);
      expect(sig.toString('hex')).toBe(v.signature);
      const theirs = Buffer.alloc(64);
      sodium.crypto_sign_detached(theirs, hex(v.message), sk);
      expect(theirs.equals(sig)).toBe(true);
      expect(api!.crypto_sign_verify_detached(sig, hex(v.message), pk)).toBe(true);
      // A view into a larger buffer (offsets), and a changed signature, message or key.
      const padded = Buffer.concat([Buffer.from('xyz'), hex(v.message), Buffer.from('!')]);
      expect(api!.crypto_sign_verify_detached(sig, padded.subarray(3, 3 + hex(v.message).length), pk)).toBe(true);
      const bad = Buffer.from(sig);
      bad[63]! ^= 0x80;
      expect(api!.crypto_sign_verify_detached(bad, hex(v.message), pk)).toBe(sodium.crypto_sign_verify_detached(bad, hex(v.message), pk));
      expect(api!.crypto_sign_verify_detached(sig, Buffer.concat([hex(v.message), Buffer.from([0])]), pk)).toBe(false);
    }
  });

  it('throws on wrong sizes and non-typed-arrays, as the package does (the addon itself would abort the process)', () => {
    const pk = Buffer.alloc(32);
    const sk = Buffer.alloc(64);
    api!.crypto_sign_seed_keypair(pk, sk, hex(vectors[0]!.secret_key));
    expect(() => api!.crypto_sign_verify_detached(Buffer.alloc(63), Buffer.alloc(1), pk)).toThrow(RangeError);
    expect(() => api!.crypto_sign_verify_detached(Buffer.alloc(64), Buffer.alloc(1), Buffer.alloc(31))).toThrow(RangeError);
    expect(() => api!.crypto_sign_verify_detached('sig' as never, Buffer.alloc(1), pk)).toThrow(RangeError);
    expect(() => api!.crypto_sign_detached(Buffer.alloc(65), Buffer.alloc(1), sk)).toThrow(RangeError);
    expect(() => api!.crypto_sign_detached(Buffer.alloc(64), Buffer.alloc(1), Buffer.alloc(32))).toThrow(RangeError);
    expect(() => api!.crypto_sign_seed_keypair(pk, sk, Buffer.alloc(31))).toThrow(RangeError);
  });

  it('answers undefined (the caller then loads the package) for another major version, no prebuild, an addon that fails RFC 8032 TEST 2, or a load error', () => {
    const real = require(addonPath) as Record<string, unknown>;
    expect(loadSodiumPrebuild(fakeRequire('5.1.0', real))).toBeDefined(); // the fake itself works
    expect(loadSodiumPrebuild(fakeRequire('4.3.3', real))).toBeUndefined();
    expect(loadSodiumPrebuild(fakeRequire('6.0.0', real))).toBeUndefined();
    expect(loadSodiumPrebuild(fakeRequire('5.1.0', real, false))).toBeUndefined();
    // Verifies anything: refused by the changed-signature check.
    expect(loadSodiumPrebuild(fakeRequire('5.1.0', { ...real, crypto_sign_verify_detached: () => true }))).toBeUndefined();
    // Signs with another key.
    expect(loadSodiumPrebuild(fakeRequire('5.1.0', { ...real, crypto_sign_seed_keypair: () => 0 }))).toBeUndefined();
    expect(loadSodiumPrebuild(fakeRequire('5.1.0', {}))).toBeUndefined();
    const unresolvable = Object.assign(() => undefined, {
      resolve: () => {
        throw new Error("Cannot find module 'sodium-native/package.json'");
      },
    }) as unknown as NodeJS.Require;
    expect(loadSodiumPrebuild(unresolvable)).toBeUndefined();
  });

  it("is how core loads libsodium: a fresh process holds the addon but not the package's JS, and require('sodium-native') afterwards shares the addon", () => {
    const probe = `
      import { createRequire } from 'node:module';
      import { defaultCryptoBackend, generateKey } from '@aauth-kit/core';
      const require = createRequire(import.meta.url);
      const loaded = () => Object.keys(require.cache).map((f) => f.replace(/\\\\/g, '/')).filter((f) => f.includes('/sodium-native/')).map((f) => f.slice(f.indexOf('/sodium-native/') + 15));
      const backend = defaultCryptoBackend();
      const key = generateKey();
      const data = Buffer.from('x');
      const ok = key.verify(data, key.sign(data));
      const first = loaded();
      const sodium = require('sodium-native');
      const pk = Buffer.alloc(32), sk = Buffer.alloc(64);
      sodium.crypto_sign_keypair(pk, sk);
      console.log(JSON.stringify({ backend, ok, first, after: loaded() }));
    `;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { cwd: fileURLToPath(new URL('../../..', import.meta.url)), encoding: 'utf8', timeout: 30_000 });
    expect(run.status, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout.trim().split('\n').pop()!) as { backend: string; ok: boolean; first: string[]; after: string[] };
    const prebuild = `prebuilds/${process.platform}-${process.arch}/sodium-native.node`;
    expect(result).toMatchObject({ backend: 'sodium', ok: true });
    expect(result.first.sort()).toEqual(['package.json', prebuild].sort());
    expect(result.after).toEqual(expect.arrayContaining(['index.js', prebuild]));
    expect(result.after.filter((f) => f.endsWith('.node'))).toEqual([prebuild]);
  });
});
