import type { AuditDecision, AuditEvent } from '@aauth-kit/auth-server';
import { parseCommand } from '../lib/parse-command.js';
import { auditLogFiles, readAuditLog } from '../lib/read-audit-log.js';
import { isoSeconds, printable } from '../lib/printable.js';
import { type Io, UsageError } from '../lib/usage-error.js';

export const auditHelp = `Usage: aauth audit --file PATH [filters] [--json]

Answer "what did agent X do for user Y" from the auth server's audit log (the JSON-lines file of
its file sink, PATH.1 ... PATH.N rotated files included, or the auth-server command's output).
Shows issuance decisions (allow, deny, pending), oldest first.
  --file PATH         the audit log
  --agent ID          events where ID asked: the signing agent, an agent of the act chain, or the OAuth client
  --user NAME         events for this user (user name, or sub)
  --resource ID       events for this resource (or OAuth audience)
  --decision D        allow, deny or pending
  --since T           events at or after T: ISO 8601 time, epoch seconds, or a duration ago (30s, 15m, 2h, 7d)
  --until T           events at or before T (same forms)
  --all               also consent, login and revocation events (no decision)
  --json              print a JSON array of the events instead of a table`;

const DECISIONS: readonly AuditDecision[] = ['allow', 'deny', 'pending'];
const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Epoch seconds of a `--since`/`--until` value; `now` in epoch seconds. */
export function parseAuditTime(value: string, flag: string, now: number): number {
  const ago = /^(\d+)([smhd])$/.exec(value);
  if (ago) return now - Number(ago[1]) * UNITS[ago[2]!]!;
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value);
  // Dates with a time part or a plain date (YYYY-MM-DD, UTC); nothing else Date.parse would guess at.
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) {
    const ms = Date.parse(value);
    // 2024-02-30 parses as 1 March: a date that is not on the calendar is refused, not rolled over.
    const [y, mo, d] = value.slice(0, 10).split('-').map(Number) as [number, number, number];
    const day = new Date(Date.UTC(y, mo - 1, d));
    const onCalendar = day.getUTCFullYear() === y && day.getUTCMonth() === mo - 1 && day.getUTCDate() === d;
    if (Number.isFinite(ms) && onCalendar) return ms / 1000;
  }
  throw new UsageError(`${flag} must be an ISO 8601 time, epoch seconds or a duration such as 2h (got ${JSON.stringify(value)})`);
}

const iso = (t: unknown): string => isoSeconds(t)?.replace(/\.\d{3}Z$/, 'Z') ?? text(t);

/** A cell from a log line (any JSON: a field of another type than the sink writes is shown, not a crash), control characters escaped. */
function text(value: unknown, join = ' '): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return value.map((v) => text(v)).join(join);
  return printable(typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value)));
}

const scopes = (list: unknown): string => (list === undefined ? '' : text(list) || '-');

function table(events: AuditEvent[]): string {
  const head = ['TIME', 'DECISION', 'TYPE', 'CODE', 'AGENT CHAIN', 'USER', 'RESOURCE', 'SCOPES ASKED', 'GRANTED', 'JTI'];
  const rows = events.map((e) => [
    iso(e.time),
    text(e.decision),
    text(e.type),
    text(e.code),
    text(e.chain ?? (e.agent !== undefined ? [e.agent] : []), ' > '),
    text(e.user ?? e.username ?? e.sub),
    text(e.resource ?? e.audience),
    scopes(e.scopesRequested),
    scopes(e.scopesGranted),
    text(e.jti),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

/** `aauth audit`: filter the auth server's audit log. */
export async function audit(args: string[], io: Io, now: () => number = () => Date.now() / 1000): Promise<number> {
  const parsed = parseCommand(
    args,
    {
      file: { type: 'string' },
      agent: { type: 'string' },
      user: { type: 'string' },
      resource: { type: 'string' },
      decision: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      all: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    auditHelp,
    io,
  );
  if (parsed === undefined) return 0;
  const { values, positionals } = parsed;
  if (positionals.length > 0) throw new UsageError(`audit takes no positional arguments (got ${JSON.stringify(positionals[0])})`);
  if (values.file === undefined || values.file.length === 0) throw new UsageError('--file PATH is required (the audit log)');
  const decision = values.decision;
  if (decision !== undefined && !DECISIONS.includes(decision as AuditDecision)) {
    throw new UsageError(`--decision must be one of ${DECISIONS.join(', ')} (got ${JSON.stringify(decision)})`);
  }
  const t = now();
  const since = values.since === undefined ? undefined : parseAuditTime(values.since, '--since', t);
  const until = values.until === undefined ? undefined : parseAuditTime(values.until, '--until', t);
  const files = auditLogFiles(values.file);
  if (files.length === 0) throw new UsageError(`no audit log at ${values.file}`);

  const { agent, user, resource } = values;
  const keep = (e: AuditEvent): boolean =>
    (values.all === true || e.decision !== undefined) &&
    (decision === undefined || e.decision === decision) &&
    (agent === undefined || e.agent === agent || e.client === agent || e.actor === agent || (Array.isArray(e.chain) && e.chain.includes(agent))) &&
    (user === undefined || e.user === user || e.username === user || e.sub === user) &&
    (resource === undefined || e.resource === resource || (Array.isArray(e.audience) && e.audience.includes(resource))) &&
    (since === undefined || e.time >= since) &&
    (until === undefined || e.time <= until);
  const { events, skipped } = await readAuditLog(files, keep);
  if (skipped > 0) io.stderr(`aauth audit: ${skipped} line(s) skipped: not audit events\n`);
  if (values.json) {
    io.stdout(`[${events.map((e) => `\n${printable(JSON.stringify(e))}`).join(',')}${events.length > 0 ? '\n' : ''}]\n`);
  } else {
    io.stdout(`${table(events)}\n${events.length} event(s)\n`);
  }
  return 0;
}
