import { buildExchangeForm } from './lib/form.js';
import { resolveTarget } from './lib/options.js';
import type { TokenExchangeHttpRequest, TokenExchangeRequestOptions } from './types.js';

/**
 * Build the token request `exchangeToken` would send (RFC 8693 section 2.1, or Entra's
 * on-behalf-of form): URL, headers, form body. Sends nothing; a missing subject token throws
 * `exchange_subject_token_missing`, bad options a `TypeError` naming the option.
 */
export async function buildTokenExchangeRequest(
  options: TokenExchangeRequestOptions,
  config: { now?: (() => number) | undefined } = {},
): Promise<TokenExchangeHttpRequest> {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const target = resolveTarget(options, 'options', ['subjectToken', 'actorToken']);
  if (options.actorToken !== undefined && typeof options.actorToken !== 'string') throw new TypeError('options.actorToken must be a string');
  return buildExchangeForm(target, { subjectToken: options.subjectToken, actorToken: options.actorToken }, config.now ?? (() => Date.now() / 1000));
}
