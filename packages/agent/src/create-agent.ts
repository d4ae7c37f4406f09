import { createGotHooks } from './lib/got-hooks.js';
import { AgentEngine } from './lib/engine.js';
import { agentFetch } from './lib/fetch-flow.js';
import { resolveOptions } from './lib/resolve-options.js';
import { createAgentWellKnown } from './lib/well-known.js';
import type { Agent, AgentOptions, GotHooks } from './types.js';

/** Agents created here, so `wrapFetch` can reuse an agent's cache and single flight. */
export const engines = new WeakMap<Agent, AgentEngine>();

/**
 * Create an AAuth agent: `agent.fetch` signs every request (`jwks_uri`, or `hwk` without an
 * identity), answers a 401 challenge by getting an auth token and retries once with it (`jwt`).
 * Options are validated here; misuse throws a `TypeError` naming the option.
 */
export function createAgent(options: AgentOptions): Agent {
  const engine = new AgentEngine(resolveOptions(options));
  const agent: Agent = {
    fetch: (input, init) => agentFetch(engine, engine.options.fetch, input, init),
    wellKnown() {
      if (engine.identity === undefined) throw new TypeError('agent.wellKnown() needs options.identity (a pseudonymous agent publishes nothing)');
      return createAgentWellKnown(engine.identity, engine.key, engine.options.metadata);
    },
    gotHooks: () => createGotHooks(engine),
    extendGot: <G extends { extend(options: { hooks: GotHooks }): unknown }>(got: G): G => got.extend({ hooks: createGotHooks(engine) }) as G,
    invalidate: (resource) => engine.invalidate(resource),
    flush: () => engine.flush(),
    buildSignedRequest: (request, opts) => engine.sign(request, opts),
    identity: engine.identity,
    key: engine.key,
  };
  engines.set(agent, engine);
  return Object.freeze(agent);
}
