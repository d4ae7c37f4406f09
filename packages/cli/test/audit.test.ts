import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aauth } from './support.js';
import { parseAuditTime } from '../src/commands/audit.js';
import { auditLogFiles, boundedLines, MAX_AUDIT_LINE } from '../src/lib/read-audit-log.js';

// `aauth audit` on hand-written logs: rotated files read oldest first, the auth-server command's
// `{"audit": ...}` lines too, unreadable lines skipped and counted, filters and time forms.

let dir: string;
const e = (time: number, extra: Record<string, unknown>) => JSON.stringify({ type: 'token.issued', time, endpoint: 'token', decision: 'allow', realm: 'r', ...extra });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'aauth-audit-cli-'));
  // Oldest in .2, then .1, then the live file; one line from `aauth auth-server` stdout, one broken line.
  writeFileSync(join(dir, 'a.log.2'), `${e(100, { agent: 'A', chain: ['A'], user: 'alice', jti: 'j1', resource: 'R1' })}\n`);
  writeFileSync(join(dir, 'a.log.1'), `${e(200, { agent: 'B', chain: ['B', 'A'], user: 'alice', jti: 'j2', resource: 'R2' })}\n{"type":"tok\n`);
  writeFileSync(
    join(dir, 'a.log'),
    [
      JSON.stringify({ audit: JSON.parse(e(300, { type: 'request.refused', decision: 'deny', code: 'invalid_grant', agent: 'A', chain: ['A'], user: 'bob' })) }),
      e(400, { type: 'consent.granted', decision: undefined, agent: 'A', username: 'alice' }),
      e(500, { agent: 'A', chain: ['A'], sub: 'u-9', jti: 'j5' }),
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'a.log.x'), 'not a rotation');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('aauth audit', () => {
  it('reads the rotated files oldest first, then the live one', () => {
    expect(auditLogFiles(join(dir, 'a.log'))).toEqual([join(dir, 'a.log.2'), join(dir, 'a.log.1'), join(dir, 'a.log')]);
  });

  it('--agent matches anywhere in the chain; unreadable lines are counted on stderr', async () => {
    const r = await aauth('audit', '--file', join(dir, 'a.log'), '--agent', 'A', '--json');
    expect(r.code).toBe(0);
    expect((JSON.parse(r.out) as Array<{ time: number }>).map((x) => x.time)).toEqual([100, 200, 300, 500]);
    expect(r.err).toBe('aauth audit: 1 line(s) skipped: not audit events\n');
  });

  it('--user matches the user name or the sub; --all adds events without a decision', async () => {
    const alice = await aauth('audit', '--file', join(dir, 'a.log'), '--user', 'alice', '--json');
    expect((JSON.parse(alice.out) as Array<{ jti?: string }>).map((x) => x.jti)).toEqual(['j1', 'j2']);
    const all = await aauth('audit', '--file', join(dir, 'a.log'), '--user', 'alice', '--all', '--json');
    expect((JSON.parse(all.out) as Array<{ type: string }>).map((x) => x.type)).toEqual(['token.issued', 'token.issued', 'consent.granted']);
    const bySub = await aauth('audit', '--file', join(dir, 'a.log'), '--user', 'u-9', '--json');
    expect((JSON.parse(bySub.out) as Array<{ jti?: string }>).map((x) => x.jti)).toEqual(['j5']);
  });

  it('--decision, --resource, --since and --until', async () => {
    const f = ['audit', '--file', join(dir, 'a.log'), '--json'];
    expect((JSON.parse((await aauth(...f, '--decision', 'deny')).out) as Array<{ code: string }>).map((x) => x.code)).toEqual(['invalid_grant']);
    expect((JSON.parse((await aauth(...f, '--resource', 'R2')).out) as Array<{ jti: string }>).map((x) => x.jti)).toEqual(['j2']);
    expect((JSON.parse((await aauth(...f, '--since', '200', '--until', '300')).out) as Array<{ time: number }>).map((x) => x.time)).toEqual([200, 300]);
    expect(JSON.parse((await aauth(...f, '--agent', 'nobody')).out)).toEqual([]);
  });

  it('prints a table with one row per event and a count', async () => {
    const r = await aauth('audit', '--file', join(dir, 'a.log'), '--user', 'alice');
    const lines = r.out.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[1]).toMatch(/^1970-01-01T00:01:40Z +allow +token\.issued +A +alice +R1 +j1$/);
    expect(lines[2]).toContain('B > A');
    expect(lines[3]).toBe('2 event(s)');
  });

  it('bad arguments are usage errors (exit 2, one line)', async () => {
    expect(await aauth('audit', '--agent', 'A')).toMatchObject({ code: 2, err: 'aauth audit: --file PATH is required (the audit log)\n' });
    expect(await aauth('audit', '--file', join(dir, 'nothing.log'))).toMatchObject({ code: 2, err: `aauth audit: no audit log at ${join(dir, 'nothing.log')}\n` });
    expect((await aauth('audit', '--file', join(dir, 'a.log'), '--until', 'soon')).code).toBe(2);
    expect((await aauth('audit', '--file', join(dir, 'a.log'), 'extra')).code).toBe(2);
  });
});

describe('parseAuditTime', () => {
  it('a line longer than 1 MiB (a file without newlines) is skipped, not held: the events around it are read', async () => {
    const big = join(dir, 'big.log');
    writeFileSync(big, `${e(100, { agent: 'A', chain: ['A'] })}\n${'x'.repeat(MAX_AUDIT_LINE * 3)}\n${e(200, { agent: 'A', chain: ['A'] })}\n${'y'.repeat(MAX_AUDIT_LINE + 1)}`);
    const r = await aauth('audit', '--file', big, '--agent', 'A', '--json');
    expect(r.code).toBe(0);
    expect((JSON.parse(r.out) as Array<{ time: number }>).map((x) => x.time)).toEqual([100, 200]);
    expect(r.err).toBe('aauth audit: 2 line(s) skipped: not audit events\n');
  });

  it('boundedLines: lines across chunks, CRLF, an overlong line in the middle or at the end as undefined', async () => {
    async function* chunks(...parts: string[]) {
      yield* parts;
    }
    const all = async (...parts: string[]) => {
      const out: Array<string | undefined> = [];
      for await (const line of boundedLines(chunks(...parts), 5)) out.push(line);
      return out;
    };
    expect(await all('ab', 'c\r\nde', '\n', 'f')).toEqual(['abc', 'de', 'f']);
    expect(await all('12345\n123', '456', '789\nok\n')).toEqual(['12345', undefined, 'ok']);
    expect(await all('1234567', '\n', '', 'x')).toEqual([undefined, 'x']);
    expect(await all('ok\n123456')).toEqual(['ok', undefined]);
    expect(await all('\n\n')).toEqual(['', '']);
  });

  it('durations ago, epoch seconds and ISO 8601 times', () => {
    expect(parseAuditTime('90s', '--since', 1000)).toBe(910);
    expect(parseAuditTime('2h', '--since', 10_000)).toBe(2800);
    expect(parseAuditTime('1d', '--since', 100_000)).toBe(13_600);
    expect(parseAuditTime('1700000000', '--since', 0)).toBe(1_700_000_000);
    expect(parseAuditTime('2024-01-02T03:04:05Z', '--since', 0)).toBe(Date.UTC(2024, 0, 2, 3, 4, 5) / 1000);
    expect(parseAuditTime('2024-01-02', '--since', 0)).toBe(Date.UTC(2024, 0, 2) / 1000);
    expect(() => parseAuditTime('last week', '--until', 0)).toThrow('--until must be an ISO 8601 time, epoch seconds or a duration such as 2h (got "last week")');
  });
});
