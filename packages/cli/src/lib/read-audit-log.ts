import { createReadStream, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { AuditEvent } from '@aauth-kit/auth-server';
import { openLocalFile } from './read-local-file.js';

/**
 * The files of one audit log, oldest first: the rotated `{path}.N` (highest N is oldest) and then
 * `{path}` itself, as the auth server's file sink names them. Only files that exist.
 */
export function auditLogFiles(path: string): string[] {
  const dir = dirname(path);
  const base = basename(path);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const rotated = names
    .map((name) => ({ name, n: name.startsWith(`${base}.`) ? Number(name.slice(base.length + 1)) : NaN }))
    .filter(({ n, name }) => Number.isInteger(n) && n > 0 && name === `${base}.${n}`)
    .sort((a, b) => b.n - a.n)
    .map(({ name }) => join(dir, name));
  return names.includes(base) ? [...rotated, path] : rotated;
}

/** An audit event from one line: the file sink's `{...}`, or the auth-server command's `{"audit": {...}}`; else undefined. */
export function parseAuditLine(line: string): AuditEvent | undefined {
  if (line.trim().length === 0) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value === 'object' && value !== null && 'audit' in value) value = (value as { audit: unknown }).audit;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const event = value as AuditEvent;
  return typeof event.type === 'string' && typeof event.time === 'number' ? event : undefined;
}

/** Every event of the log's files, oldest file first, and how many lines were not audit events. */
export async function readAuditLog(files: string[], keep: (event: AuditEvent) => boolean): Promise<{ events: AuditEvent[]; skipped: number }> {
  const events: AuditEvent[] = [];
  let skipped = 0;
  for (const file of files) {
    // A regular file only (a FIFO would hang, /dev/zero never ends, a directory is EISDIR): a usage error naming --file.
    const fd = openLocalFile('--file', file, Number.MAX_SAFE_INTEGER);
    const lines = createInterface({ input: createReadStream('', { fd, encoding: 'utf8' }), crlfDelay: Infinity });
    for await (const line of lines) {
      if (line.length === 0) continue;
      const event = parseAuditLine(line);
      if (event === undefined) skipped++;
      else if (keep(event)) events.push(event);
    }
  }
  // Stable: events of the same second keep the order they were written in.
  events.sort((a, b) => a.time - b.time);
  return { events, skipped };
}
