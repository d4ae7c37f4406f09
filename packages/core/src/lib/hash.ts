import * as nodeCrypto from 'node:crypto';

/**
 * A digest of `data` in `encoding`: node's one-shot `crypto.hash` where it has one (20.12+; cheaper
 * than a Hash object, issue 18), else `createHash`. The one such helper of the kit's hot paths.
 */
export const hashOnce: (algorithm: 'sha256' | 'sha512', data: string | Uint8Array, encoding: 'base64' | 'base64url' | 'hex') => string =
  typeof (nodeCrypto as { hash?: unknown }).hash === 'function'
    ? (algorithm, data, encoding) => nodeCrypto.hash(algorithm, data, encoding)
    : (algorithm, data, encoding) => nodeCrypto.createHash(algorithm).update(data).digest(encoding);
