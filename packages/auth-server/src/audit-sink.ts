import type { AuditEvent } from './audit-event.js';

/**
 * Where audit events go (issue 17). `write` never throws and never waits: a sink buffers and
 * stores in the background, so a slow or failing store never fails or slows issuance. Pass
 * `sink.write` as the auth server's `onAudit`.
 */
export interface AuditSink {
  /** Take one event (bound: safe to pass as `onAudit`). */
  readonly write: (event: AuditEvent) => void;
  /** Resolves once every event taken so far is stored, or dropped and counted. */
  flush(): Promise<void>;
  /** Flush, then release the file or stop retrying; events written after close are dropped and counted. */
  close(): Promise<void>;
  /** Counters since the sink was created. */
  stats(): AuditSinkStats;
}

/** What a sink did with the events it took. */
export interface AuditSinkStats {
  /** Events stored. */
  written: number;
  /** Events lost: buffer full, store failed for good, or written after close. */
  dropped: number;
  /** Events taken and not yet stored. */
  buffered: number;
}
