// RFC 8693 token exchange for bearer downstreams: one exchange, its request, and a caching exchanger
// whose fetch drives the agent's call loop in bearer mode.
export { buildTokenExchangeRequest } from './build-token-exchange-request.js';
export { createTokenExchanger } from './create-token-exchanger.js';
export { exchangeToken } from './exchange-token.js';
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
} from './types.js';
