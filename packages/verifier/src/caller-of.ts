import { AAuthError } from '@aauth-kit/core';
import type { VerifiedCaller } from './types.js';

/**
 * The caller a failed `verify()` still established, if any: set when an authentic auth token was
 * refused (e.g. expired) but the request is signed with its `cnf.jwk`, so a fresh challenge can
 * carry a resource token for that caller (wire profile section 5).
 */
export function callerOf(error: unknown): VerifiedCaller | undefined {
  if (!(error instanceof AAuthError)) return undefined;
  const caller = error.details?.caller as VerifiedCaller | undefined;
  if (typeof caller !== 'object' || caller === null) return undefined;
  if (typeof caller.agent !== 'string' || typeof caller.thumbprint !== 'string') return undefined;
  return caller;
}
