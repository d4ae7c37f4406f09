import { ACT_MAX_DEPTH, AAuthError } from '@aauth-kit/core';
import type { RealmPolicy } from '../load-realm.js';

/** Refuse a blocked agent, or one missing from a non-empty allow-list (section 10): 403 access_denied. */
export function checkAgentAllowed(policy: RealmPolicy, agent: string): void {
  if (policy.blockedAgents.includes(agent)) {
    throw new AAuthError('access_denied', `Agent ${agent} is blocked by realm policy (aauth.blocked.agents)`);
  }
  if (policy.allowedAgents.length > 0 && !policy.allowedAgents.includes(agent)) {
    throw new AAuthError('access_denied', `Agent ${agent} is not in the realm's allowed agents (aauth.allowed.agents)`);
  }
}

/** The `agent` of every level of an `act` chain, outermost first (at most the kit's depth limit, plus one). */
export function chainAgents(act: unknown): string[] {
  const agents: string[] = [];
  let level = act;
  for (let depth = 0; depth <= ACT_MAX_DEPTH && typeof level === 'object' && level !== null; depth++) {
    const agent = (level as Record<string, unknown>).agent;
    if (typeof agent === 'string') agents.push(agent);
    level = (level as Record<string, unknown>).act;
  }
  return agents;
}

/**
 * Refuse a token whose delegation chain passed through a blocked agent (section 10,
 * `aauth.blocked.agents`; issue 13, finding 15): not only the signer, every upstream agent counts.
 */
export function checkChainAllowed(policy: RealmPolicy, agents: readonly (string | undefined)[]): void {
  for (const agent of agents) {
    if (agent !== undefined && policy.blockedAgents.includes(agent)) {
      throw new AAuthError('upstream_agent_blocked', `Agent ${agent} in the delegation chain is blocked by realm policy (aauth.blocked.agents)`);
    }
  }
}

/** Refuse scopes outside a non-empty `aauth.allowed.scopes`: 400 invalid_scope. */
export function checkScopesAllowed(policy: RealmPolicy, scopes: readonly string[]): void {
  if (policy.allowedScopes.length === 0) return;
  const refused = scopes.filter((s) => !policy.allowedScopes.includes(s));
  if (refused.length > 0) {
    throw new AAuthError('invalid_scope', `Scope ${refused.join(' ')} is not allowed by realm policy (aauth.allowed.scopes)`);
  }
}

/** The requested scopes that need a user's consent (exact names or prefixes, section 10). */
export function consentScopes(policy: RealmPolicy, scopes: readonly string[]): string[] {
  return scopes.filter((s) => policy.consentScopes.includes(s) || policy.consentScopePrefixes.some((p) => s.startsWith(p)));
}
