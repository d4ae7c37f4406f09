import { describe, expect, it } from 'vitest';
import { generateKey, importPublicKey } from '@aauth-kit/core';
import { createVerifier } from '@aauth-kit/verifier';
import { replayKey } from '../src/lib/replay-key.js';
import { sign } from './helpers.js';

const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

function malleate(signature: Buffer): Buffer {
  const s = BigInt(`0x${signature.subarray(32).toString('hex')}`);
  return Buffer.concat([signature.subarray(0, 32), Buffer.from((N - s).toString(16).padStart(64, '0'), 'hex')]);
}

describe('replayKey', () => {
  it('is keyed by thumbprint and the decoded signature bytes', () => {
    const key = importPublicKey(generateKey().jwk);
    const sig = Buffer.alloc(64, 1);
    expect(replayKey(key, sig)).toBe(replayKey(key, Buffer.from(sig)));
    expect(replayKey(key, sig).startsWith(`${key.thumbprint}:`)).toBe(true);
    expect(replayKey(key, sig)).not.toBe(replayKey(key, Buffer.alloc(64, 2)));
  });

  it('maps an ECDSA signature and its malleable twin (r, n - s) to one key', () => {
    const key = importPublicKey(generateKey({ alg: 'ES256' }).jwk);
    const sig = Buffer.concat([Buffer.alloc(32, 3), Buffer.from('7'.padStart(64, '0'), 'hex')]);
    expect(replayKey(key, malleate(sig))).toBe(replayKey(key, sig));
  });

  it('a malleated P-256 signature still verifies but is caught as a replay', async () => {
    const v = createVerifier({ identity: 'https://api.example' });
    const req = sign({ method: 'POST', url: 'https://api.example/x', headers: { 'content-type': 'text/plain' }, body: 'hi' }, generateKey({ alg: 'ES256' }));
    await v.verify(req);
    const sig = Buffer.from(/^sig=:(.*):$/.exec(String(req.headers.signature))![1]!, 'base64');
    const twin = { ...req, headers: { ...req.headers, signature: `sig=:${malleate(sig).toString('base64')}:` } };
    await expect(v.verify(twin)).rejects.toMatchObject({ code: 'signature_replayed' });
  });
});
