import { coreOf, createAgent } from './create-agent.js';
import { agentFetch } from './lib/aauth-call.js';
import type { Agent, AgentOptions, AgentRequestInit } from './types.js';

/**
 * Wrap any `fetch` so requests through it are AAuth-signed and challenges answered: with an agent
 * it shares that agent's token cache; with options it creates one whose transport is `fetchImpl`.
 */
export function wrapFetch(fetchImpl: typeof fetch, agentOrOptions: Agent | AgentOptions): typeof fetch {
  if (typeof fetchImpl !== 'function') throw new TypeError('fetchImpl must be a function');
  const core = coreOf(agentOrOptions);
  if (core !== undefined) {
    return ((input: string | URL | Request, init?: AgentRequestInit) => agentFetch(core, fetchImpl, input, init)) as typeof fetch;
  }
  return createAgent({ ...(agentOrOptions as AgentOptions), fetch: fetchImpl }).fetch as typeof fetch;
}
