export { createAgent } from './create-agent.js';
export { wrapFetch } from './wrap-fetch.js';
export { buildSignedRequest, defaultScheme, type SignerConfig } from './build-signed-request.js';
export { assessChallenge, type ChallengeContext, type ChallengeDecision } from './assess-challenge.js';
export { AAuthChallengeError, type AAuthChallengeErrorOptions } from './aauth-challenge-error.js';
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
export { exchangeToken } from './exchange-token.js';
export { buildTokenExchangeRequest } from './build-token-exchange-request.js';
export { createTokenExchanger } from './create-token-exchanger.js';
export { TokenExchangeError } from './token-exchange-error.js';
export {
  TOKEN_TYPE,
  type ClientAuthentication,
  type CredentialOptions,
  type ExchangedToken,
  type ExchangeTokenOptions,
  type TokenExchangeEvent,
  type TokenExchangeFetchInit,
  type TokenExchangeHttpRequest,
  type TokenExchangeProfile,
  type TokenExchangeRequestOptions,
  type TokenExchanger,
  type TokenExchangerOptions,
  type TokenExchangeTarget,
  type TokenProviderRequest,
} from './token-exchange-types.js';
