export { AAuthError, ERRORS, isAAuthError, type AAuthErrorCode, type AAuthErrorOptions } from './errors.js';
export {
  computeThumbprint,
  exportPublicPem,
  generateKey,
  importPrivateKey,
  importPublicKey,
  loadKeyFile,
  rawPublicKey,
  saveKeyFile,
  type CryptoBackend,
  type EcPublicJwk,
  type HttpSigAlgorithm,
  type KeyOptions,
  type OkpPublicJwk,
  type PrivateJwk,
  type PublicJwk,
  type PublicKey,
  type RsaPublicJwk,
  type SaveKeyFileOptions,
  type SigningKey,
} from './keys.js';
export { createContentDigest, verifyContentDigest, type DigestAlgorithm } from './content-digest.js';
export { createSignatureBase, serializeSignatureParams, type SignatureParams } from './signature-base.js';
export { defaultComponents, signRequest, type SignRequestOptions, type SignRequestResult } from './sign-request.js';
export {
  DEFAULT_MAX_SIGNATURE_HEADER,
  DEFAULT_MAX_SKEW,
  parseSignature,
  parseSignedRequest,
  verifyMessageSignature,
  verifyRequest,
  verifySignedRequest,
  type ParseSignatureOptions,
  type ParseSignedRequestOptions,
  type SignedRequest,
  type VerifyRequestOptions,
} from './verify-request.js';
export {
  SIGNATURE_SCHEMES,
  parseSignatureKey,
  serializeSignatureKey,
  type ParsedSignatureKey,
  type SerializeSignatureKeyOptions,
  type SignatureKey,
} from './signature-key.js';
export {
  REQUIRE_LEVELS,
  buildChallenge,
  buildRequirement,
  parseChallenge,
  parseChallengeHeader,
  type BuildChallengeOptions,
  type Challenge,
  type ChallengeSpelling,
  type RequireLevel,
} from './challenge.js';
export {
  DEFAULT_TOKEN_ALGORITHMS,
  MAX_RESOURCE_TOKEN_LIFETIME,
  TOKEN_TYP,
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
  type MintResourceTokenOptions,
  type ResourceTokenClaims,
  type TokenKind,
  type VerifyResourceTokenOptions,
  type VerifyTokenOptions,
} from './tokens.js';
export { assertIdentityUrl, identityUrlProblem, isLocalHostname } from './identity.js';
export {
  JWKS_PATH,
  createWellKnownHandler,
  type PublishedJwk,
  type WellKnownHandler,
  type WellKnownHandlerOptions,
} from './create-well-known-handler.js';
export { hasBody, isIdempotent, toHeaderMap, toUrl, type HeaderMap, type HeadersInput, type HttpRequest } from './lib/request.js';
