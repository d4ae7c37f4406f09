import { isAAuthError } from '@aauth-kit/core';
import type { AuditEvent } from '../audit-event.js';

/** Emit without letting a failing listener break the request. */
export function createAuditEmitter(
  listener: ((event: AuditEvent) => void) | undefined,
  warn: (message: string) => void,
): (event: AuditEvent) => void {
  if (!listener) return () => {};
  return (event) => {
    try {
      listener(event);
    } catch (error) {
      warn(`onAudit threw: ${(error as Error).message}`);
    }
  };
}

/** The refusal fields of an event for `error`: its code, status, wire error and message (a non-`AAuthError` is a 500 `internal_error`). */
export function refusalOf(error: unknown): Required<Pick<AuditEvent, 'code' | 'status' | 'error' | 'reason'>> {
  if (isAAuthError(error)) return { code: error.code, status: error.status, error: error.error, reason: error.message };
  return { code: 'internal_error', status: 500, error: 'server_error', reason: 'internal error' };
}
