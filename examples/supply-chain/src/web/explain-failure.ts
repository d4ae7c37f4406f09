import type { DemoResult } from '../run-demo.js';

/** What a refusal means for the person watching, in one or two sentences (the page shows it under the hop and code). */
export function explainFailure(failure: NonNullable<DemoResult['failure']>): string {
  const code = failure.code;
  const error = failure.hop?.error?.error;
  if (code === 'interaction_denied' || error === 'access_denied' || error === 'denied') {
    return 'You denied the request on the consent page, so the auth server issued no token: the backend may not call the supply-chain agent for you, and nothing reached the market-analysis agent.';
  }
  if (code === 'interaction_expired' || code === 'interaction_timeout' || error === 'expired') {
    return 'Nobody answered the consent request in time: the auth server dropped it and issued no token.';
  }
  if (code === 'stopped') return 'The run was stopped before it finished (a new run started, or the demo is shutting down).';
  if (error === 'invalid_scope') {
    return 'The auth server will not issue a token with the scope this service asks for: the realm policy does not allow it (aauth.allowed.scopes).';
  }
  const hop = failure.hop;
  if (hop) {
    return hop.status === 0
      ? `${hop.to} did not answer ${hop.from}: the connection failed.`
      : `${hop.to} refused ${hop.from}'s request (HTTP ${hop.status}${error ? `, ${error}` : ''}); the flow stops there.`;
  }
  return 'The flow stopped without a refusal from any party: the reason is above.';
}
