// @aauth-kit/core/internal: what the kit's own packages share (the verifier's split parse/verify,
// the HTTP edge of the express package and the auth server, identity URL rules, header maps) and
// the pure RFC 9421 / 9530 steps the tests check byte for byte. No stability promise: applications
// use the main entry point, whose `verifyRequest` is the one parse + verify call.
export { parseSignature, parseSignatureKeyMemo, parseSignedRequest, signatureInvalid, verifyMessageSignature, verifySignedRequest } from './verify-request.js';
export { DEFAULT_MAX_SIGNATURE_HEADER, DEFAULT_MAX_SKEW, type ParseSignatureOptions, type ParseSignedRequestOptions } from './verify-request.js';
export { createSignatureBase, serializeSignatureParams, type SignatureParams } from './signature-base.js';
export { defaultComponents } from './sign-request.js';
export { createContentDigest, verifyContentDigest, type DigestAlgorithm } from './content-digest.js';
export { randomNonce } from './lib/nonce.js';
export { hashOnce } from './lib/hash.js';
export { ListMemo } from './lib/list-memo.js';
export { argumentErrorText, assertKnownOptions, nearestName, optionNames, repeatedOptionText } from './lib/known-options.js';
export { networkErrorText } from './lib/network-error.js';
export { fileProblem } from './lib/file-problem.js';
export { showValue } from './lib/show-value.js';
export { jsonSyntaxText } from './lib/json-syntax.js';
export { MAX_CLARIFICATION_ROUNDS, MAX_CLARIFICATION_TEXT } from './requirement.js';
export { callQuietly, catchRejection, isPromiseLike } from './lib/promise-like.js';
export { boundedCommands, storeFailureText, type BoundedCommands, type BoundedCommandsOptions } from './lib/bounded-command.js';
export { announcesBody, bodyDeadline, bodyTimeoutError, DEFAULT_BODY_TIMEOUT_MS } from './lib/body-deadline.js';
export { SIGNATURE_SCHEMES, serializeSignatureKey, type ParsedSignatureKey, type SerializeSignatureKeyOptions } from './signature-key.js';
export { REQUIRE_LEVELS, buildRequirement, parseChallengeHeader, type BuildChallengeOptions, type ChallengeSpelling } from './challenge.js';
export { exportPublicPem, loadSodiumPrebuild, rawPublicKey, setNobleLoaderForTests, setSodiumLoaderForTests, verifyText, type HttpSigAlgorithm, type RsaPublicJwk } from './keys.js';
export { assertIdentityUrl, identityUrlProblem, isLocalHostname, isLocalhostName } from './identity.js';
export { JWKS_PATH } from './create-well-known-handler.js';
// The one HTTP edge of @aauth-kit/express and @aauth-kit/auth-server.
export { serveDocuments, type DocumentHandler } from './serve-documents.js';
export { sendError } from './send-error.js';
export { sendJson } from './send-json.js';
export { requestTarget, requestUrl, toHttpRequest, type IncomingRequest } from './to-http-request.js';
export { fieldLinesOf, hasBody, isIdempotent, plainUrlParts, toHeaderMap, toUrl, type HeaderMap, type UrlParts } from './lib/request.js';
// AAuth -11 / HTTP Signature Keys -09 pieces the kit's packages share.
export {
  ACCEPT_SIGNATURE_SCHEMES_11,
  buildAcceptSignatureAlg,
  buildAcceptSignatureScheme,
  parseTokenList,
  serializeTokenList,
  signatureErrorHeaders,
  type SignatureErrorHeadersOptions,
} from './signature-error.js';
export { serverIdentifierProblem } from './aauth-identifier.js';
export { algOf11 } from './jwk-alg.js';
export { interactionUrlProblem } from './requirement.js';
export { METADATA_DOCUMENTS_11 } from './metadata-11.js';
export { CROCKFORD_ALPHABET, groupInteractionCode } from './interaction-code.js';
export { confirmationJwk } from './mint-tokens-11.js';
export { sendProblem } from './send-problem.js';
// Synchronous JWS signing with node:crypto (the auth server's realm key, the kit's own tokens).
export { jwsSigner, signCompactJws } from './token-signature.js';
export { signJwtSync } from './tokens.js';
export { hashTagged, hasHashTag, redisClusterPrefixProblem } from './redis-cluster.js';
export { callId, createTelemetry, loadOpenTelemetry, TELEMETRY_ATTRIBUTES, type IncomingHeaders, type OpenSpan, type OtelApi, type SpanHandle, type SpanKindName, type Telemetry, type TelemetryAttributes, type TelemetryOptions } from './telemetry.js';
