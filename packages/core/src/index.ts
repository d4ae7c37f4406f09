// @aauth-kit/core: the AAuth wire format and its crypto, no network I/O. One entry point per
// operation; what the kit's own packages share beyond this is in '@aauth-kit/core/internal'.
export { AAuthError, ERRORS, isAAuthError, type AAuthErrorCode, type AAuthErrorOptions } from './errors.js';
export { computeThumbprint, generateKey, importPrivateKey, importPublicKey, loadKeyFile, saveKeyFile } from './keys.js';
export type { CryptoBackend, EcPublicJwk, KeyOptions, OkpPublicJwk, PrivateJwk, PublicJwk, PublicKey, SaveKeyFileOptions, SigningKey } from './keys.js';
export type { HeadersInput, HttpRequest } from './http-request.js';
export { signRequest, type SignRequestOptions, type SignRequestResult } from './sign-request.js';
export { verifyRequest, type SignedRequest, type VerifyRequestOptions } from './verify-request.js';
export { parseSignatureKey, type SignatureKey } from './signature-key.js';
export { buildChallenge, parseChallenge, type Challenge, type RequireLevel } from './challenge.js';
// --- tokens ---
export {
  checkResourceTokenClaims,
  decodeToken,
  hasScopes,
  mintResourceToken,
  parseScope,
  signJwt,
  tokenKind,
  verifyResourceToken,
  verifyToken,
  type ActClaim,
  type AuthTokenClaims,
  type DecodedToken,
  type JsonWebKeyInput,
  type MintResourceTokenOptions,
  type ResourceTokenClaims,
  type TokenKind,
  type VerifyResourceTokenOptions,
  type VerifyTokenOptions,
} from './tokens.js';
export {
  ACCESS_TOKEN,
  AUTH_TOKEN,
  DEFAULT_TOKEN_ALGORITHMS,
  MAX_RESOURCE_TOKEN_LIFETIME,
  OAUTH_ACCESS_TOKEN,
  REFRESH_TOKEN,
  RESOURCE_TOKEN,
  TOKEN_LEEWAY,
  TOKEN_PROFILES,
  TOKEN_TYP,
  isBannedAlgorithm,
  type ClaimCheck,
  type ClaimContext,
  type ClaimProblem,
  type TokenClock,
  type TokenExpectations,
  type TokenKeySource,
  type TokenProfile,
} from './token-profiles.js';
export { ACT_MAX_DEPTH, actChainDepth, actChainProblem } from './act-chain.js';
export { checkTokenClaims, checkTokenHeader, type CheckedToken } from './check-token.js';
export { importTokenKey, verifyTokenSignature, type TokenKey } from './token-signature.js';
export { createWellKnownHandler, type PublishedJwk, type WellKnownHandler, type WellKnownHandlerOptions } from './create-well-known-handler.js';
