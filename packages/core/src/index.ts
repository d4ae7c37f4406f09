// @aauth-kit/core: the AAuth wire format and its crypto, no network I/O. One entry point per
// operation; what the kit's own packages share beyond this is in '@aauth-kit/core/internal'.
export { AAuthError, ERRORS, PROBLEM_JSON, isAAuthError, signatureErrorCode, type AAuthErrorCode, type AAuthErrorOptions, type ProblemJSON } from './errors.js';
export { computeThumbprint, defaultCryptoBackend, generateKey, importPrivateKey, importPublicKey, loadKeyFile, saveKeyFile } from './keys.js';
export type { CryptoBackend, EcPublicJwk, KeyOptions, OkpPublicJwk, PrivateJwk, PublicJwk, PublicKey, SaveKeyFileOptions, SigningKey } from './keys.js';
export type { HeadersInput, HttpRequest } from './http-request.js';
export { signRequest, type SignRequestOptions, type SignRequestResult } from './sign-request.js';
export { verifyRequest, type SignedRequest, type VerifyRequestOptions } from './verify-request.js';
export { parseSignatureKey, type ParseSignatureKeyOptions, type SignatureKey } from './signature-key.js';
export { buildChallenge, parseChallenge, type Challenge, type RequireLevel } from './challenge.js';
// --- tokens ---
export {
  checkResourceTokenClaims,
  decodeToken,
  hasScopes,
  mintResourceToken,
  parseScope,
  signJwt,
  classifyToken,
  tokenKind,
  tokenProfile,
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
  // -11 (draft-11 profile section 6)
  AGENT_TOKEN_11,
  AUTH_TOKEN_11,
  GENERATIONS,
  MAX_LIFETIME_11,
  PERSON_TOKEN,
  RESOURCE_TOKEN_11,
  TOKEN_ALGORITHMS_11,
  TOKEN_DWK_11,
  TOKEN_TYP_11,
  type Generation,
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
// --- AAuth -11 / HTTP Signature Keys -09 (docs/wire-profile-draft11.md) ---
export {
  mintAgentToken,
  mintAuthToken11,
  mintPersonToken,
  mintResourceToken11,
  type ConfirmationKeyInput,
  type Mint11Options,
  type MintAgentTokenOptions,
  type MintAuthToken11Options,
  type MintPersonTokenOptions,
  type MintResourceToken11Options,
} from './mint-tokens-11.js';
export { REQUIREMENTS, parseRequirement, serializeRequirement, type ParsedRequirement, type RequirementOptions, type RequirementValue } from './requirement.js';
export {
  ACCEPT_SIGNATURE_ALGS,
  SIGNATURE_ERROR_CODES,
  parseSignatureError,
  serializeSignatureError,
  type SignatureError,
  type SignatureErrorCode,
} from './signature-error.js';
export { parseAgentIdentifier, type AgentIdentifier, type AgentIdentifierOptions, type IdentifierOptions } from './aauth-identifier.js';
export { jwkAlgProblem, type JwkAlgProblem } from './jwk-alg.js';
export { ACCESS_MODES, checkMetadataDocument, metadataUrl, type AccessMode, type CheckMetadataOptions, type MetadataDocument11, type MetadataDocumentName } from './metadata-11.js';
export { generateInteractionCode, normalizeInteractionCode } from './interaction-code.js';
// Types that appear in the other packages' options and results (discovery's and the agent's
// `telemetry`, an agent provider's `wellKnown()`), so a user can name them.
export type { TelemetryOptions } from './telemetry.js';
export type { DocumentHandler } from './serve-documents.js';
