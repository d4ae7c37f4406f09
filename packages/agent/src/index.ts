// @aauth-kit/agent: the operations a user calls, and their types.
export { createAgent } from './create-agent.js';
export {
  createAgentProvider,
  MAX_AGENT_TOKEN_LIFETIME,
  type AgentProvider,
  type AgentProviderOptions,
  type MintAgentTokenOptions,
} from './create-agent-provider.js';
export { wrapFetch, type AgentFetch } from './wrap-fetch.js';
export { buildSignedRequest, type SignerConfig } from './build-signed-request.js';
export { assessChallenge, type ChallengeContext, type ChallengeDecision } from './assess-challenge.js';
export { AAuthChallengeError, type AAuthChallengeErrorOptions } from './aauth-challenge-error.js';
export { AAuthReconnectRequiredError, type ReconnectTarget } from './aauth-reconnect-required-error.js';
export { createMemoryTokenCache, type CachedToken, type MemoryTokenCacheOptions, type TokenCache } from './token-cache.js';
export {
  createRedisTokenCache,
  type RedisTokenCache,
  type RedisTokenCacheClient,
  type RedisTokenCacheOptions,
  type RedisTokenCacheSubscriber,
} from './create-redis-token-cache.js';
export type {
  Agent,
  AgentEvent,
  AgentOptions,
  AgentRequestInit,
  ApprovedMission,
  BuildSignedRequestOptions,
  Clarification,
  Draft11Options,
  Generation,
  GotAAuthContext,
  GotHooks,
  Interaction,
  MissionProposal,
  RequestToSign,
  SignatureScheme,
  SignedRequestHeaders,
} from './types.js';
// RFC 8693 token exchange (bearer downstreams): see ./token-exchange/.
export {
  buildTokenExchangeRequest,
  createTokenExchanger,
  exchangeToken,
  TokenExchangeError,
  TOKEN_TYPE,
  type ExchangedToken,
  type ExchangeTokenOptions,
  type TokenExchangeEvent,
  type TokenExchangeFetchInit,
  type TokenExchanger,
  type TokenExchangerOptions,
  type TokenExchangeRequestOptions,
  type TokenExchangeTarget,
} from './token-exchange/index.js';
