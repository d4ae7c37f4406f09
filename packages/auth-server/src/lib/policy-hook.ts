import { AAuthError, isAAuthError } from '@aauth-kit/core';
import type { IssuancePolicy, PolicyInput } from '../issuance-policy.js';

/** What an issuing endpoint tells the policy; the check adds `realm` and `time`. */
export type PolicyRequest = Omit<PolicyInput, 'realm' | 'time'>;

/** Ask the configured policy; answers the scopes to issue, or throws `policy_denied` / `policy_unavailable`. */
export type PolicyCheck = (request: PolicyRequest) => Promise<string[]>;

/** Longest reason shown to the agent (characters); a longer one is cut. */
const MAX_REASON = 300;

/** A policy's reason as one printable line: it reaches the agent's error and the audit. */
function cleanReason(reason: unknown): string | undefined {
  if (typeof reason !== 'string') return undefined;
  // One printable line: the reason is shown to the agent and written to audit logs (no forged log lines).
  const line = reason.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
  if (line.length === 0) return undefined;
  return line.length > MAX_REASON ? `${line.slice(0, MAX_REASON - 1)}…` : line;
}

function unavailable(message: string, cause?: unknown): AAuthError {
  return new AAuthError('policy_unavailable', message, { headers: { 'Retry-After': '5' }, ...(cause !== undefined ? { cause } : {}) });
}

/**
 * The issuance policy as the endpoints call it, once the realm file's rules passed (composition:
 * the realm rules first, then the hook; the hook denies or narrows, never widens). Without a hook
 * every request the realm allows is allowed as asked.
 */
export function createPolicyCheck(hook: IssuancePolicy | undefined, timeoutMs: number, realm: string, now: () => number): PolicyCheck {
  if (hook === undefined) return async (request) => request.scopes;
  return async (request) => {
    const input: PolicyInput = { realm, ...request, chain: [...request.chain], scopes: [...request.scopes], time: Math.floor(now()) };
    let timer: NodeJS.Timeout | undefined;
    let answer: unknown;
    try {
      answer = await Promise.race([
        Promise.resolve().then(() => hook(input)),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(unavailable(`The issuance policy did not answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (error) {
      // A hook may refuse with the kit's own errors (policy_denied, or a 503 of its own); anything else is an outage.
      if (isAAuthError(error) && (error.code === 'policy_denied' || error.code === 'policy_unavailable')) throw error;
      throw unavailable(`The issuance policy failed: ${cleanReason((error as Error)?.message) ?? 'no reason given'}`, error);
    } finally {
      clearTimeout(timer);
    }
    if (typeof answer !== 'object' || answer === null || typeof (answer as { allow?: unknown }).allow !== 'boolean') {
      throw unavailable('The issuance policy answered no decision ({ allow: boolean } expected)');
    }
    const decision = answer as { allow: boolean; scopes?: unknown; reason?: unknown };
    if (!decision.allow) {
      const reason = cleanReason(decision.reason) ?? 'no reason given';
      throw new AAuthError('policy_denied', `Denied by the issuance policy: ${reason}`, { details: { reason } });
    }
    if (decision.scopes === undefined) return [...request.scopes];
    if (!Array.isArray(decision.scopes) || !decision.scopes.every((s): s is string => typeof s === 'string')) {
      throw unavailable('The issuance policy answered scopes that are not a list of strings');
    }
    const widened = decision.scopes.filter((s) => !request.scopes.includes(s));
    // Narrowing only: a policy that grants what was not asked is broken, and nothing is issued.
    if (widened.length > 0) throw unavailable(`The issuance policy granted scopes that were not asked: ${widened.join(' ')}`);
    const granted = request.scopes.filter((s) => (decision.scopes as string[]).includes(s));
    if (request.scopes.length > 0 && granted.length === 0) {
      const reason = cleanReason(decision.reason) ?? `none of the scopes asked (${request.scopes.join(' ')}) is granted`;
      throw new AAuthError('policy_denied', `Denied by the issuance policy: ${reason}`, { details: { reason } });
    }
    return granted;
  };
}
