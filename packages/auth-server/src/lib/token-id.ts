import { randomBytes } from 'node:crypto';

/**
 * A token id: 16 random bytes, base64url. Drawn from a pool filled 4 KiB at a time (each byte used
 * once), instead of a call into the CSPRNG per token (issue 18).
 */
export const newTokenId = (() => {
  const size = 4096;
  let pool = Buffer.alloc(0);
  let offset = size;
  return (): string => {
    if (offset + 16 > pool.length) {
      pool = randomBytes(size);
      offset = 0;
    }
    const id = pool.toString('base64url', offset, offset + 16);
    offset += 16;
    return id;
  };
})();
