import { createReadStream, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
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

/** The longest line read as an event, characters: an audit event is a few KiB; a longer line is skipped, not held. */
export const MAX_AUDIT_LINE = 1024 * 1024;

/**
 * The lines of `chunks` (without their `\n` or `\r\n`), a line longer than `max` as `undefined`:
 * never more than `max` characters held, whatever the file (one without a newline included).
 */
export async function* boundedLines(chunks: AsyncIterable<string>, max: number): AsyncGenerator<string | undefined> {
  let line = '';
  let tooLong = false;
  for await (const chunk of chunks) {
    let start = 0;
    for (let nl = chunk.indexOf('\n'); nl !== -1; nl = chunk.indexOf('\n', start)) {
      const end = tooLong ? '' : chunk.slice(start, nl);
      if (!tooLong && line.length + end.length > max) tooLong = true;
      yield tooLong ? undefined : (line + end).replace(/\r$/, '');
      line = '';
      tooLong = false;
      start = nl + 1;
    }
    if (tooLong) continue;
    line += chunk.slice(start);
    if (line.length > max) {
      tooLong = true;
      line = '';
    }
  }
  if (tooLong) yield undefined;
  else if (line.length > 0) yield line.replace(/\r$/, '');
}

/** Every event of the log's files, oldest file first, and how many lines were not audit events. */
export async function readAuditLog(files: string[], keep: (event: AuditEvent) => boolean): Promise<{ events: AuditEvent[]; skipped: number }> {
  const events: AuditEvent[] = [];
  let skipped = 0;
  for (const file of files) {
    // A regular file only (a FIFO would hang, /dev/zero never ends, a directory is EISDIR): a usage error naming --file.
    const fd = openLocalFile('--file', file, Number.MAX_SAFE_INTEGER);
    for await (const line of boundedLines(createReadStream('', { fd, encoding: 'utf8' }), MAX_AUDIT_LINE)) {
      if (line?.length === 0) continue;
      const event = line === undefined ? undefined : parseAuditLine(line);
      if (event === undefined) skipped++;
      else if (keep(event)) events.push(event);
    }
  }
  // Stable: events of the same second keep the order they were written in.
  events.sort((a, b) => a.time - b.time);
  return { events, skipped };
}
