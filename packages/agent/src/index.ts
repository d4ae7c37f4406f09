export { createAgent } from './create-agent.js';
export { wrapFetch } from './wrap-fetch.js';
export { buildSignedRequest, defaultScheme, type SignerConfig } from './build-signed-request.js';
export { assessChallenge, type ChallengeContext, type ChallengeDecision } from './assess-challenge.js';
export { AAuthChallengeError } from './aauth-challenge-error.js';
export { createMemoryTokenCache, type CachedToken, type MemoryTokenCacheOptions, type TokenCache } from './token-cache.js';
export type {
  Agent,
  AgentEvent,
  AgentOptions,
  AgentRequestInit,
  BuildSignedRequestOptions,
  GotHooks,
  GotOptionsLike,
  GotResponseLike,
  Interaction,
  RequestToSign,
  SignatureScheme,
  SignedRequestHeaders,
} from './types.js';
export type { GotAAuthContext } from './lib/got-hooks.js';
