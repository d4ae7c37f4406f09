import { sendExchange } from './lib/client.js';
import { buildExchangeForm } from './lib/form.js';
import { functionOption, positiveOption, resolveTarget } from './lib/options.js';
import type { ExchangedToken, ExchangeTokenOptions } from './types.js';

/**
 * One RFC 8693 token exchange: POST the subject (and actor) token to the token endpoint with
 * client authentication and check the answer. Refusals are `TokenExchangeError`s coded by the
 * server's `error`; a missing subject token fails before any network call.
 */
export async function exchangeToken(options: ExchangeTokenOptions): Promise<ExchangedToken> {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const target = resolveTarget(options, 'options', ['subjectToken', 'actorToken', 'fetch', 'now', 'timeoutMs', 'maxBytes']);
  if (options.actorToken !== undefined && typeof options.actorToken !== 'string') throw new TypeError('options.actorToken must be a string');
  const transport = {
    fetch: functionOption(options.fetch, 'options.fetch') ?? globalThis.fetch.bind(globalThis),
    now: functionOption(options.now, 'options.now') ?? (() => Date.now() / 1000),
    timeoutMs: positiveOption(options.timeoutMs, 'options.timeoutMs', 10_000),
    maxBytes: positiveOption(options.maxBytes, 'options.maxBytes', 64 * 1024, true),
  };
  const request = await buildExchangeForm(target, { subjectToken: options.subjectToken, actorToken: options.actorToken }, transport.now);
  return sendExchange(request, transport, target, target.scope);
}
