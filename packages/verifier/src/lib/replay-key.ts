import type { PublicKey } from '@aauth-kit/core';
import { hashOnce } from '@aauth-kit/core/internal';

// Order of the P-256 group: an ECDSA signature (r, s) is also valid as (r, n - s).
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/**
 * The replay-cache key for a verified signature: (key thumbprint, signature) as the wire profile
 * (section 3) says, over the decoded bytes so a re-encoding (base64 vs base64url) is the same
 * signature, and with ECDSA's `s` normalised so the malleable twin (r, n - s) is too.
 */
export function replayKey(key: PublicKey, signature: Uint8Array): string {
  let bytes: Uint8Array = signature;
  if (key.algorithm === 'ecdsa-p256-sha256' && bytes.length === 64) {
    const sig = Buffer.from(signature);
    const s = BigInt(`0x${sig.subarray(32).toString('hex')}`);
    const low = s > P256_N / 2n ? P256_N - s : s;
    bytes = Buffer.concat([sig.subarray(0, 32), Buffer.from(low.toString(16).padStart(64, '0'), 'hex')]);
  }
  return `${key.thumbprint}:${hashOnce('sha256', bytes, 'base64url')}`;
}
