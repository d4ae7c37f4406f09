import { isAAuthError } from '@aauth-kit/core';
import type { PendingRequest, PendingStore } from '../pending-store.js';

/**
 * Delivers a decided pending request the caller has just taken (single use). When the delivery
 * fails for a reason the agent is told to retry (a 5xx: the issuance policy or a store unavailable,
 * a revocation settling, the access server unreachable), the request is put back with its decision,
 * under the same id and code, so the agent's next poll collects it instead of finding it gone. A
 * refusal (4xx) consumes it, as before. Putting back is best effort: a store that refuses it again
 * (down itself, or full) is warned about, and the agent's error stands.
 */
export async function deliverTaken<T>(store: PendingStore, taken: PendingRequest, now: number, deliver: () => Promise<T>, warn: (message: string) => void): Promise<T> {
  try {
    return await deliver();
  } catch (error) {
    if (isAAuthError(error) && error.status >= 500 && taken.expiresAt >= now && taken.status === 'approved') {
      try {
        await putBack(store, taken);
      } catch (again) {
        warn(`An approved request (pending id ${taken.id}) could not be delivered (${error.message}) nor put back for the agent's next poll (${(again as Error).message}): the agent must ask again`);
      }
    }
    throw error;
  }
}

/**
 * Put a request the caller took back in the store, decided as it was: `replacement` (default: the
 * request itself) with the same id, code, agent, resource and expiry.
 */
export async function putBack(store: PendingStore, taken: PendingRequest, replacement: PendingRequest = taken): Promise<void> {
  if (store.untake !== undefined) {
    if (!(await store.untake(taken, replacement === taken ? undefined : replacement))) throw new Error('the store no longer holds it');
    return;
  }
  await putDecided(store, replacement);
}

/**
 * Store a new request that is decided already (four-party: the person consented, or needed not,
 * and the access server deferred). A store may keep a put request undecided (the Redis store does):
 * its decision is then recorded with `decide`, so the agent's polls go on to the access server.
 */
export async function putDecided(store: PendingStore, request: PendingRequest): Promise<void> {
  await store.put(request);
  if (request.status === 'pending') return;
  const back = await store.get(request.id);
  if (back?.status === 'pending') {
    const decided = await store.decide(request.id, { status: request.status, sub: request.sub ?? '', username: request.username ?? '' });
    if (decided === undefined) throw new Error('its decision could not be recorded again');
  } else if (back === undefined) {
    throw new Error('the store does not find it after the put');
  }
}
