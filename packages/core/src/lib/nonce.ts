import { randomFillSync } from 'node:crypto';

// One getrandom call per 256 nonces instead of one per request: randomBytes(16) per signature was
// a tenth of the cost of signing (BENCHMARKS.md, figure 3). Every byte is still used once only.
const POOL_SIZE = 16 * 256;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let offset = POOL_SIZE;

/** A fresh 128-bit random nonce, base64url (wire profile section 3 asks for at least 96 bits). */
export function randomNonce(): string {
  if (offset + 16 > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const nonce = pool.toString('base64url', offset, offset + 16);
  offset += 16;
  return nonce;
}
