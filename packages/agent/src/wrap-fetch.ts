import { coreOf, createAgent } from './create-agent.js';
import { agentFetch } from './lib/aauth-call.js';
import type { Agent, AgentOptions, AgentRequestInit } from './types.js';

/** A `fetch` that also takes the agent's per-call options (`upstreamToken`, ...); assignable to `typeof fetch`. */
export type AgentFetch = (input: string | URL | Request, init?: AgentRequestInit) => Promise<Response>;

/**
 * Wrap any `fetch` so requests through it are AAuth-signed and challenges answered: with an agent
 * it shares that agent's token cache; with options it creates one whose transport is `fetchImpl`.
 * The result takes the same per-call options as `agent.fetch`.
 */
export function wrapFetch(fetchImpl: typeof fetch, agentOrOptions: Agent | AgentOptions): AgentFetch {
  if (typeof fetchImpl !== 'function') throw new TypeError('fetchImpl must be a function');
  const core = coreOf(agentOrOptions);
  if (core !== undefined) {
    return (input, init) => agentFetch(core, fetchImpl, input, init);
  }
  return createAgent({ ...(agentOrOptions as AgentOptions), fetch: fetchImpl }).fetch;
}
