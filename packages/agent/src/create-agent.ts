import { type Signer, signWith } from './build-signed-request.js';
import { type AgentCore, agentFetch, generationFor } from './lib/aauth-call.js';
import { createDraft11Core } from './lib/draft11-call.js';
import { checkProposal } from './lib/mission-proposal.js';
import { createGotHooks } from './lib/got-hooks.js';
import { resolveOptions } from './lib/resolve-options.js';
import { createTokenStore } from './lib/token-store.js';
import { createAgentWellKnown } from './lib/well-known.js';
import type { Agent, AgentOptions, GotHooks } from './types.js';

/** Agents created here, so `wrapFetch` can reuse an agent's cache and single flight. */
const cores = new WeakMap<Agent, AgentCore>();

/** The configuration and tokens of an agent made by `createAgent`; undefined for anything else. */
export function coreOf(agent: unknown): AgentCore | undefined {
  return typeof agent === 'object' && agent !== null ? cores.get(agent as Agent) : undefined;
}

/**
 * Create an AAuth agent: `agent.fetch` signs every request (`jwks_uri`, or `hwk` without an
 * identity), answers a 401 challenge by getting an auth token and retries once with it (`jwt`).
 * Options are validated and resolved here, once; misuse throws a `TypeError` naming the option.
 */
export function createAgent(options: AgentOptions): Agent {
  const config = resolveOptions(options);
  const core: AgentCore = { config, tokens: createTokenStore(config), draft11: config.draft11 ? createDraft11Core(config, config.draft11) : undefined };
  const gotHooks = (): GotHooks => createGotHooks(core);
  /** The dictionary `Signature-Key` form for a URL the agent speaks -11 to (unless the form was configured). */
  const signerFor = (url: string | URL): Signer => {
    let generation: string | undefined;
    try {
      generation = generationFor(core, new URL(url));
    } catch {
      generation = undefined; // not an absolute URL: signRequest refuses it below
    }
    return generation === 'draft-11' ? config.signer11 : config.signer;
  };
  const agent: Agent = {
    fetch: (input, init) => agentFetch(core, config.fetch, input, init),
    wellKnown() {
      if (config.identity === undefined) {
        // A -11 agent that is its own provider serves the provider's documents.
        if (config.draft11?.provider !== undefined) return config.draft11.provider.wellKnown() as ReturnType<Agent['wellKnown']>;
        throw new TypeError('agent.wellKnown() needs options.identity (a pseudonymous agent publishes nothing)');
      }
      return createAgentWellKnown(config.identity, config.key, config.metadata, config.signer.options.signatureKeyForm);
    },
    gotHooks,
    extendGot: <G extends { extend(options: { hooks: GotHooks }): unknown }>(got: G): G => got.extend({ hooks: gotHooks() }) as G,
    invalidate: (resource) => {
      core.tokens.invalidate(resource);
      core.draft11?.invalidate(resource);
    },
    flush: () => {
      core.tokens.flush();
      core.draft11?.flush();
    },
    buildSignedRequest: (request, opts) => signWith(signerFor(request.url), request, opts),
    identity: config.identity,
    key: config.key,
    async agentToken() {
      if (core.draft11 === undefined) throw new TypeError('agent.agentToken() needs options.draft11');
      return (await core.draft11.agentToken()).token;
    },
    generationFor: (url) => generationFor(core, new URL(url)),
    async proposeMission(proposal) {
      if (core.draft11 === undefined) throw new TypeError('agent.proposeMission() needs options.draft11');
      const approved = await core.draft11.proposeMission(config.fetch, checkProposal(proposal, core.draft11.draft11.allowLoopback));
      return { s256: approved.s256, mission: approved.mission, capabilities: approved.capabilities, personTokens: [...approved.personTokens.keys()] };
    },
  };
  cores.set(agent, core);
  return Object.freeze(agent);
}
