import { randomNonce } from '@aauth-kit/core/internal';

/**
 * A token id: 16 random bytes, base64url, drawn from core's pooled CSPRNG buffer (the one request
 * nonces come from: one getrandom per 256 ids, each byte used once) (issue 18).
 */
export const newTokenId: () => string = randomNonce;
